rule metrics:
    input:
        meta=L.meta("{video}"),
        frames=L.frames("{video}"),
        style=lambda wc: style_images(wc.style),
        chunks=lambda wc: [
            f for p in range(PASSES + 1) for f in round_files(wc.video, wc.style, p, chunks_of(wc.video))
        ],
        flow=lambda wc: flow_files(wc.video, chunks_of(wc.video)),
        masks=lambda wc: mask_files(wc.video, chunks_of(wc.video)),
        cuts=L.cuts("{video}"),
    output:
        json=L.metrics("{video}", "{style}", "json"),
        warping_error=report(
            L.metrics("{video}", "{style}", "warping_error"),
            caption="../report/warping_error.rst",
            category="Metrics",
            subcategory="{video} x {style}",
            labels={"video": "{video}", "style": "{style}", "file": "warping error per frame"},
        ),
        losses=report(
            L.metrics("{video}", "{style}", "losses"),
            caption="../report/losses.rst",
            category="Metrics",
            subcategory="{video} x {style}",
            labels={"video": "{video}", "style": "{style}", "file": "losses per round"},
        ),
        thumbnails=report(
            L.metrics("{video}", "{style}", "thumbnails"),
            caption="../report/thumbnails.rst",
            category="Metrics",
            subcategory="{video} x {style}",
            labels={"video": "{video}", "style": "{style}", "file": "one frame per round"},
        ),
    log:
        L.log("{video}", "{style}", "metrics"),
    benchmark:
        L.benchmark("{video}", "{style}", "metrics")
    conda:
        "../envs/iovst.yaml"
    threads: 2
    resources:
        **job_resources("metrics", L.metrics("{video}", "{style}", "json")),
    params:
        device=config["device"],
        json=stage_params("metrics"),
        style=lambda wc: style_args(wc.style),
    shell:
        "iovst metrics --chunks {input.chunks:q} --flow {input.flow:q} --masks {input.masks:q} --cuts={input.cuts:q} "
        "--frames-dir={input.frames:q} {params.style} --params={params.json:q} --device={params.device} "
        "--json={output.json:q} --plot-warping-error={output.warping_error:q} --plot-losses={output.losses:q} "
        "--plot-thumbnails={output.thumbnails:q} --threads={threads} --log={log:q}"


rule summary:
    input:
        unpack(summary_inputs),
    output:
        report(
            L.summary("{video}"),
            caption="../report/summary.rst",
            category="Run",
            labels={"video": "{video}", "file": "summary"},
        ),
    log:
        L.log("{video}", "summary"),
    conda:
        "../envs/iovst.yaml"
    resources:
        **job_resources("summary", L.summary("{video}")),
    params:
        run_config=iovst_config.canonical_json(config),
        logs=lambda wc: f"{L.logs}/{wc.video}",
        extra=summary_args,
    shell:
        "iovst report-summary --video={wildcards.video:q} --run-config={params.run_config:q} {params.extra} "
        "--logs-dir={params.logs:q} --out={output:q} --log={log:q}"
