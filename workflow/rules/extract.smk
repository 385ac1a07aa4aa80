checkpoint extract:
    input:
        video=lambda wc: config["videos"][wc.video],
    output:
        meta=L.meta("{video}"),
        frames=directory(L.frames("{video}")),
    params:
        json=stage_params("extract"),
    resources:
        **job_resources("extract", L.meta("{video}")),
    conda:
        "../envs/iovst.yaml"
    log:
        L.log("{video}", "extract"),
    shell:
        "iovst extract --video={input.video:q} --frames-dir={output.frames:q} "
        "--meta={output.meta:q} --params={params.json:q} --log={log:q}"
