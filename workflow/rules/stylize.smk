rule stylize:
    input:
        unpack(stylize_extra_inputs),
        meta=L.meta("{video}"),
        frames=L.frames("{video}"),
        style=lambda wc: style_images(wc.style),
    output:
        L.round("{video}", "{style}", 0, "{k}"),
    log:
        L.log("{video}", "{style}", "r0", "chunk_{k}"),
    benchmark:
        L.benchmark("{video}", "{style}", "r0", "chunk_{k}")
    conda:
        "../envs/iovst.yaml"
    threads: 2
    resources:
        **job_resources("stylize", L.round("{video}", "{style}", 0, "{k}")),
    params:
        chunk_size=C,
        cache=CACHE,
        device=config["device"],
        json=stage_params("stylize"),
        style=lambda wc: style_args(wc.style),
        extra=_opt_args("prev", "flow", "masks", "cuts"),
    shell:
        "iovst stylize --frames-dir={input.frames:q} --meta={input.meta:q} --chunk={wildcards.k} "
        "--chunk-size={params.chunk_size} {params.style} {params.extra} --out={output:q} --cache-dir={params.cache:q} "
        "--params={params.json:q} --device={params.device} --threads={threads} --log={log:q}"


rule multipass:
    input:
        unpack(multipass_inputs),
        unpack(brush_paintings),
        cuts=L.cuts("{video}"),
        meta=L.meta("{video}"),
        frames=L.frames("{video}"),
        style=lambda wc: style_images(wc.style),
    output:
        L.round("{video}", "{style}", "{p}", "{k}"),
    log:
        L.log("{video}", "{style}", "r{p}", "chunk_{k}"),
    benchmark:
        L.benchmark("{video}", "{style}", "r{p}", "chunk_{k}")
    wildcard_constraints:
        p="[1-9][0-9]*",  # round 0 is the stylize rule's
    conda:
        "../envs/iovst.yaml"
    threads: 2
    resources:
        **job_resources("multipass", L.round("{video}", "{style}", "{p}", "{k}")),
    params:
        chunk_size=C,
        cache=CACHE,
        device=config["device"],
        json=stage_params("multipass"),
        style=lambda wc: style_args(wc.style),
        neighbors=lambda wc, input: " ".join(shlex.quote(str(p)) for p in input.get("neighbors", [])),
        paintings=_opt_args("paintings"),
    shell:
        "iovst multipass --frames-dir={input.frames:q} --meta={input.meta:q} --round={wildcards.p} "
        "--chunk={wildcards.k} --chunk-size={params.chunk_size} --prev={input.prev:q} --neighbors {params.neighbors} "
        "--flow {input.flow:q} --masks {input.masks:q} --longterm {input.longterm:q} --cuts={input.cuts:q} "
        "{params.paintings} {params.style} "
        "--out={output:q} --cache-dir={params.cache:q} --params={params.json:q} --device={params.device} "
        "--threads={threads} --log={log:q}"
