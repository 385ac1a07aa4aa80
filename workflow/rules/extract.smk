checkpoint extract:
    input:
        video=lambda wc: config["videos"][wc.video],
    output:
        meta=L.meta("{video}"),
        frames=directory(L.frames("{video}")),
    log:
        L.log("{video}", "extract"),
    benchmark:
        L.benchmark("{video}", "extract")
    conda:
        "../envs/iovst.yaml"
    resources:
        **job_resources("extract", L.meta("{video}")),
    params:
        json=stage_params("extract"),
    shell:
        "iovst extract --video={input.video:q} --frames-dir={output.frames:q} "
        "--meta={output.meta:q} --params={params.json:q} --log={log:q}"
