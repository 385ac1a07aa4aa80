rule encode:
    input:
        meta=L.meta("{video}"),
        source=lambda wc: config["videos"][wc.video],
        chunks=lambda wc: round_files(wc.video, wc.style, FINAL_ROUND, chunks_of(wc.video)),
    output:
        report(
            L.encoded("{video}", "{style}"),
            caption="../report/video.rst",
            category="Results",
            subcategory="{video} x {style}",
            labels={"video": "{video}", "style": "{style}", "file": "stylized video"},
        ),
    log:
        L.log("{video}", "{style}", "encode"),
    benchmark:
        L.benchmark("{video}", "{style}", "encode")
    conda:
        "../envs/iovst.yaml"
    resources:
        **job_resources("encode", L.encoded("{video}", "{style}")),
    params:
        json=stage_params("encode"),
    shell:
        "iovst encode --chunks {input.chunks:q} --meta={input.meta:q} --source={input.source:q} "
        "--out={output:q} --params={params.json:q} --log={log:q}"


rule side_by_side:
    input:
        meta=L.meta("{video}"),
        source=lambda wc: config["videos"][wc.video],
        frames=L.frames("{video}"),
        chunks=lambda wc: round_files(wc.video, wc.style, FINAL_ROUND, chunks_of(wc.video)),
    output:
        report(
            L.encoded("{video}", "{style}", side_by_side=True),
            caption="../report/side_by_side.rst",
            category="Results",
            subcategory="{video} x {style}",
            labels={"video": "{video}", "style": "{style}", "file": "side by side"},
        ),
    log:
        L.log("{video}", "{style}", "side_by_side"),
    benchmark:
        L.benchmark("{video}", "{style}", "side_by_side")
    conda:
        "../envs/iovst.yaml"
    resources:
        **job_resources("side_by_side", L.encoded("{video}", "{style}", side_by_side=True)),
    params:
        json=stage_params("encode"),
    shell:
        "iovst encode --chunks {input.chunks:q} --side-by-side-source={input.frames:q} "
        "--meta={input.meta:q} --source={input.source:q} --out={output:q} "
        "--params={params.json:q} --log={log:q}"


rule preview_round:
    input:
        meta=L.meta("{video}"),
        chunks=lambda wc: round_files(wc.video, wc.style, int(wc.p), chunks_of(wc.video)),
    output:
        report(
            L.preview("{video}", "{style}", "{p}"),
            caption="../report/preview_round.rst",
            category="Rounds",
            subcategory="{video} x {style}",
            labels={"video": "{video}", "style": "{style}", "file": "round {p}"},
        ),
    log:
        L.log("{video}", "{style}", "preview_r{p}"),
    benchmark:
        L.benchmark("{video}", "{style}", "preview_r{p}")
    conda:
        "../envs/iovst.yaml"
    resources:
        **job_resources("preview_round", L.preview("{video}", "{style}", "{p}")),
    params:
        json=stage_params("encode"),
    shell:
        "iovst encode --chunks {input.chunks:q} --meta={input.meta:q} --out={output:q} "
        "--params={params.json:q} --log={log:q}"
