rule encode:
    input:
        meta=f"{R}/{{video}}/meta.json",
        source=lambda wc: config["videos"][wc.video],
        chunks=lambda wc: round_files(wc.video, wc.style, FINAL_ROUND, chunks_of(wc.video)),
    output:
        f"{R}/{{video}}/{{style}}/{{video}}_{{style}}.mp4",
    params:
        json=stage_params("encode"),
    resources:
        **job_resources("encode", f"{R}/{{video}}/{{style}}/{{video}}_{{style}}.mp4"),
    conda:
        "../envs/iovst.yaml"
    log:
        f"{LOGS}/{{video}}/{{style}}/encode.log",
    shell:
        "iovst encode --chunks {input.chunks:q} --meta={input.meta:q} --source={input.source:q} "
        "--out={output:q} --params={params.json:q} --log={log:q}"


rule side_by_side:
    input:
        meta=f"{R}/{{video}}/meta.json",
        source=lambda wc: config["videos"][wc.video],
        frames=f"{R}/{{video}}/frames",
        chunks=lambda wc: round_files(wc.video, wc.style, FINAL_ROUND, chunks_of(wc.video)),
    output:
        f"{R}/{{video}}/{{style}}/{{video}}_{{style}}_side_by_side.mp4",
    params:
        json=stage_params("encode"),
    resources:
        **job_resources("side_by_side", f"{R}/{{video}}/{{style}}/{{video}}_{{style}}_side_by_side.mp4"),
    conda:
        "../envs/iovst.yaml"
    log:
        f"{LOGS}/{{video}}/{{style}}/side_by_side.log",
    shell:
        "iovst encode --chunks {input.chunks:q} --side-by-side-source={input.frames:q} "
        "--meta={input.meta:q} --source={input.source:q} --out={output:q} "
        "--params={params.json:q} --log={log:q}"


rule preview_round:
    input:
        meta=f"{R}/{{video}}/meta.json",
        chunks=lambda wc: round_files(wc.video, wc.style, int(wc.p), chunks_of(wc.video)),
    output:
        f"{R}/{{video}}/{{style}}/preview_r{{p}}.mp4",
    params:
        json=stage_params("encode"),
    resources:
        **job_resources("preview_round", f"{R}/{{video}}/{{style}}/preview_r{{p}}.mp4"),
    conda:
        "../envs/iovst.yaml"
    log:
        f"{LOGS}/{{video}}/{{style}}/preview_r{{p}}.log",
    shell:
        "iovst encode --chunks {input.chunks:q} --meta={input.meta:q} --out={output:q} "
        "--params={params.json:q} --log={log:q}"
