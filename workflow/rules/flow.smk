rule flow:
    input:
        meta=L.meta("{video}"),
        frames=L.frames("{video}"),
    output:
        L.flow("{video}", "{k}"),
    log:
        L.log("{video}", "flow", "chunk_{k}"),
    benchmark:
        L.benchmark("{video}", "flow", "chunk_{k}")
    conda:
        "../envs/iovst.yaml"
    threads: 2
    resources:
        **job_resources("flow", L.flow("{video}", "{k}")),
    params:
        chunk_size=C,
        device=config["device"],
        json=stage_params("flow"),
    shell:
        "iovst flow --frames-dir={input.frames:q} --meta={input.meta:q} --chunk={wildcards.k} "
        "--chunk-size={params.chunk_size} --out={output:q} --params={params.json:q} --device={params.device} "
        "--threads={threads} --log={log:q}"


rule masks:
    input:
        L.flow("{video}", "{k}"),
    output:
        L.masks("{video}", "{k}"),
    log:
        L.log("{video}", "masks", "chunk_{k}"),
    benchmark:
        L.benchmark("{video}", "masks", "chunk_{k}")
    conda:
        "../envs/iovst.yaml"
    resources:
        **job_resources("masks", L.masks("{video}", "{k}")),
    params:
        json=stage_params("masks"),
    shell:
        "iovst masks --flow={input:q} --out={output:q} --params={params.json:q} --log={log:q}"


rule cuts:
    input:
        meta=L.meta("{video}"),
        frames=L.frames("{video}"),
        masks=lambda wc: mask_files(wc.video, chunks_of(wc.video)),
    output:
        L.cuts("{video}"),
    log:
        L.log("{video}", "cuts"),
    conda:
        "../envs/iovst.yaml"
    resources:
        **job_resources("cuts", L.cuts("{video}")),
    params:
        json=stage_params("cuts"),
    shell:
        "iovst cuts --masks {input.masks:q} --frames-dir={input.frames:q} --meta={input.meta:q} "
        "--out={output:q} --params={params.json:q} --log={log:q}"


rule longterm:
    input:
        meta=L.meta("{video}"),
        masks=lambda wc: mask_files(wc.video, pair_chunks_into(int(wc.k), C, MAX_MP_OFFSET)),
        cuts=L.cuts("{video}"),
    output:
        L.longterm("{video}", "{k}"),
    log:
        L.log("{video}", "longterm", "chunk_{k}"),
    benchmark:
        L.benchmark("{video}", "longterm", "chunk_{k}")
    conda:
        "../envs/iovst.yaml"
    resources:
        **job_resources("longterm", L.longterm("{video}", "{k}")),
    params:
        chunk_size=C,
        json=stage_params("longterm"),
    shell:
        "iovst longterm --masks {input.masks:q} --cuts={input.cuts:q} --meta={input.meta:q} --chunk={wildcards.k} "
        "--chunk-size={params.chunk_size} --out={output:q} --params={params.json:q} --log={log:q}"


rule flow_preview:
    input:
        meta=L.meta("{video}"),
        flow=lambda wc: flow_files(wc.video, chunks_of(wc.video)),
        masks=lambda wc: mask_files(wc.video, chunks_of(wc.video)),
    output:
        report(
            L.flow_preview("{video}"),
            caption="../report/flow_preview.rst",
            category="Flow",
            labels={"video": "{video}", "file": "flow preview"},
        ),
    log:
        L.log("{video}", "flow_preview"),
    benchmark:
        L.benchmark("{video}", "flow_preview")
    conda:
        "../envs/iovst.yaml"
    resources:
        **job_resources("flow_preview", L.flow_preview("{video}")),
    shell:
        "iovst flow-preview --flow {input.flow:q} --masks {input.masks:q} --meta={input.meta:q} "
        "--out={output:q} --log={log:q}"
