# iovst: optimization-based video style transfer (see README.md).
#   snakemake --cores 1 --resources gpu=1                       # default config.yaml
#   snakemake --cores 2 --configfile config/demo.yaml           # 2-core CPU demo
from snakemake.utils import min_version

min_version("9.0")

# Config: `--configfile my.yaml` REPLACES config.yaml (no `configfile:` directive here: Snakemake
# would merge the user's videos and styles into the shipped demo ones); config.yaml is read only
# when no --configfile is given. `--config` applies on top of either; the schema fills in the
# defaults. See the top of workflow/rules/common.smk.


include: "workflow/rules/common.smk"
include: "workflow/rules/extract.smk"
include: "workflow/rules/flow.smk"
include: "workflow/rules/stylize.smk"
include: "workflow/rules/encode.smk"
include: "workflow/rules/report.smk"


# snakemake --report report.html (after a run): workflow/report/ holds the captions
report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        all_targets,
        all_artifacts,
