rule flow:
    input:
        meta=f"{R}/{{video}}/meta.json",
        frames=f"{R}/{{video}}/frames",
    output:
        f"{R}/{{video}}/flow/chunk_{{k}}.h5",
    params:
        chunk_size=C,
        device=config["device"],
        json=stage_params("flow", "flow", torch_home=config["model"]["torch_home"]),
    threads: 2
    resources:
        **job_resources("flow", f"{R}/{{video}}/flow/chunk_{{k}}.h5"),
    conda:
        "../envs/iovst.yaml"
    log:
        f"{LOGS}/{{video}}/flow/chunk_{{k}}.log",
    shell:
        "iovst flow --frames-dir={input.frames:q} --meta={input.meta:q} --chunk={wildcards.k} "
        "--chunk-size={params.chunk_size} --out={output:q} --params={params.json:q} --device={params.device} "
        "--threads={threads} --log={log:q}"


rule masks:
    input:
        f"{R}/{{video}}/flow/chunk_{{k}}.h5",
    output:
        f"{R}/{{video}}/masks/chunk_{{k}}.h5",
    params:
        json=stage_params("masks", "masks"),
    resources:
        **job_resources("masks", f"{R}/{{video}}/masks/chunk_{{k}}.h5"),
    conda:
        "../envs/iovst.yaml"
    log:
        f"{LOGS}/{{video}}/masks/chunk_{{k}}.log",
    shell:
        "iovst masks --flow={input:q} --out={output:q} --params={params.json:q} --log={log:q}"


rule longterm:
    input:
        meta=f"{R}/{{video}}/meta.json",
        masks=lambda wc: mask_files(wc.video, pair_chunks_into(int(wc.k), C, MAX_MP_OFFSET)),
    output:
        f"{R}/{{video}}/longterm/chunk_{{k}}.h5",
    params:
        chunk_size=C,
        json=stage_params("longterm", offsets=MP_OFFSETS),
    resources:
        **job_resources("longterm", f"{R}/{{video}}/longterm/chunk_{{k}}.h5"),
    conda:
        "../envs/iovst.yaml"
    log:
        f"{LOGS}/{{video}}/longterm/chunk_{{k}}.log",
    shell:
        "iovst longterm --masks {input.masks:q} --meta={input.meta:q} --chunk={wildcards.k} "
        "--chunk-size={params.chunk_size} --out={output:q} --params={params.json:q} --log={log:q}"


rule flow_preview:
    input:
        meta=f"{R}/{{video}}/meta.json",
        flow=lambda wc: flow_files(wc.video, chunks_of(wc.video)),
        masks=lambda wc: mask_files(wc.video, chunks_of(wc.video)),
    output:
        f"{R}/{{video}}/flow_preview.mp4",
    resources:
        **job_resources("flow_preview", f"{R}/{{video}}/flow_preview.mp4"),
    conda:
        "../envs/iovst.yaml"
    log:
        f"{LOGS}/{{video}}/flow_preview.log",
    shell:
        "iovst flow-preview --flow {input.flow:q} --masks {input.masks:q} --meta={input.meta:q} "
        "--out={output:q} --log={log:q}"
