#!/usr/bin/env bash
# l2cli's CI recipe (docs/long-runs-and-ci.md), as a file that runs: install l2cli from this checkout, check
# that the committed reference run still comes out of it, and compare a new run with it.
#
# Run it from the project's root. Once, on any machine, make the reference run and commit it:
#     l2cli sweep configs/default.toml --portable --out reference-runs/default -q > /dev/null
# (--portable: the kernels every x86-64 CPU with AVX2 has, so that verify is exact on any such runner).
# REFERENCE names another reference run; CONFIG another experiment file.
set -euo pipefail
REFERENCE=${REFERENCE:-reference-runs/default}
CONFIG=${CONFIG:-configs/default.toml}

python -m pip install --quiet ".[plot]"  # this checkout, with matplotlib for the report (or: "l2cli[plot] @ git+URL")

# exact: the same bits on any AVX2 machine; the summary of what differs fits a job log
l2cli verify "$REFERENCE"
# what the run concluded (the chosen λ, the per-seed checks), for any CPU, kept as an artifact
l2cli verify "$REFERENCE" --level conclusions --format json > verify.json

# a new run of the same experiment, compared with the reference: a table for the job summary, and a gate
l2cli sweep "$CONFIG" --out new-run --overwrite -q > /dev/null   # --overwrite: a second run replaces it
l2cli diff "$REFERENCE" new-run --format markdown > diff.md
# the new run's report: one self-contained page to keep as an artifact, and its Markdown for the job summary
l2cli report new-run -o report.html
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    { echo "### l2cli: the new run against $REFERENCE"; echo; cat diff.md; } >> "$GITHUB_STEP_SUMMARY"
    { echo; l2cli report new-run --format markdown; } >> "$GITHUB_STEP_SUMMARY"
fi
l2cli diff "$REFERENCE" new-run --fail-on selected_lambda --fail-on test_loss=0.01
