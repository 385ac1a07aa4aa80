checkpoint extract:
    input:
        video=lambda wc: config["videos"][wc.video],
    output:
        meta=f"{R}/{{video}}/meta.json",
        frames=directory(f"{R}/{{video}}/frames"),
    params:
        json=stage_params("extract"),
    resources:
        **job_resources("extract", f"{R}/{{video}}/meta.json"),
    conda:
        "../envs/iovst.yaml"
    log:
        f"{LOGS}/{{video}}/extract.log",
    shell:
        "iovst extract --video={input.video:q} --frames-dir={output.frames:q} "
        "--meta={output.meta:q} --params={params.json:q} --log={log:q}"
