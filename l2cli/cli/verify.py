"""l2cli verify and l2cli diff: a run re-made and compared, and two runs compared."""

from __future__ import annotations

import json
import math
import sys

import click

from .app import CliError, cli, echo_table, finite, format_options
from .sweep import pin_portable, with_kernels


@cli.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--level", type=click.Choice(("exact", "numbers", "conclusions")), default="exact", show_default=True,
              help="exact: every number the same (within --rtol/--atol, default 0); numbers: within tolerances "
                   "(--tol per column; the rest rtol 1e-6, atol 1e-12 unless given); conclusions: the same λ "
                   "chosen (or within the replay's 1-SE set), each λ's means within their interval, the sweep's "
                   "shape.")
@click.option("--environment", "env_mode", type=click.Choice(("recorded", "native")), default="recorded",
              show_default=True, help="recorded: re-create the run's BLAS kernel and numpy dispatch before "
              "replaying (where this machine can); native: replay on this machine's own.")
@click.option("--rtol", type=float, default=None, callback=finite(0.0, low_open=False),
              help="Relative tolerance: |new − old| ≤ atol + rtol·|old| (default 0; 1e-6 with --level numbers).")
@click.option("--atol", type=float, default=None, callback=finite(0.0, low_open=False),
              help="Absolute tolerance (default 0; 1e-12 with --level numbers).")
@click.option("--tol", "tols", multiple=True, metavar="COLUMN=VALUE",
              help="With --level numbers: an absolute tolerance for one column of summary.csv and history.csv, "
                   "a number or K/n_test (K test rows' worth, for accuracy), e.g. --tol test_accuracy=1/n_test. "
                   "Repeatable.")
@click.option("--confidence", type=float, default=0.01, show_default=True, callback=finite(0.0, low_open=True),
              help="With --level conclusions: the family-wise level of the paired tests (Holm-corrected; a "
                   "smaller one is more lenient).")
@click.option("--data", "data", type=click.Path(dir_okay=False),
              help="Where the run's data file is now (its fingerprint must match the run's).")
@format_options
@click.option("--all", "everything", is_flag=True,
              help="Every number that differs, a row each (the default for csv, tsv, json and ndjson); table and "
                   "markdown show a summary per file and column (how many, the largest difference, the first "
                   "places).")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary line on stderr.")
def verify(run, level, env_mode, rtol, atol, tols, confidence, data, fmt, tablefmt, everything, quiet):
    """Re-run RUN from its manifest and compare it with the recorded run.

    The data must match the run's fingerprint (exit 2 otherwise). Before the
    replay, the run's numerical environment (BLAS kernel, numpy dispatch) is
    re-created where this machine can, and what still differs is said, one
    line each. Exit 0 when the level holds, 1 with a table of what differs.
    """
    from ..rundir.run import Run

    say = (lambda line: None) if quiet else (lambda line: click.echo(f"l2cli: {line}", err=True))
    loaded = Run.load(run)
    manifest = loaded.manifest
    recorded = manifest.get("environment")
    config = manifest["config"]
    if isinstance(config.get("sweep"), dict) and config["sweep"].get("portable") is True:
        pin_portable(click.get_current_context().meta["argv"])  # its kernels are part of the run, not of a machine
    elif env_mode == "recorded" and recorded:
        recreate_environment(recorded, say)
    from ..tools.verify import parse_tolerance
    from ..tools.verify import verify as replay

    counts = manifest.get("data", {})
    compared = {c for name in ("summary", "history") if tols and (table := loaded.table(name)) is not None
                for c in table.select_dtypes("number").columns} if tols else None
    tolerances = dict(parse_tolerance(t, {k: counts.get(k, 0) for k in ("n_train", "n_val", "n_test")}, compared)
                      for t in tols)
    if tolerances and level != "numbers":
        raise CliError("--tol goes with --level numbers")
    environment_notes = environment_lines(recorded) if recorded else []  # after the pins: what they left
    for line in environment_notes:
        say(f"environment: {line}")
    if environment_notes and level == "exact":
        say("environment: the numbers can differ in their last bits; --level numbers (tolerances) or --level "
            "conclusions (the choice of λ and its statistics) still check what holds")
    from pathlib import Path

    from ..rundir.checksums import NAME, changed
    from ..rundir.run import OWN_FILES

    edited = changed(Path(run), OWN_FILES)
    result = replay(run, rtol, atol, level=level, tolerances=tolerances, data=data, confidence=confidence)
    if edited:  # said once the replay ran: a refused run is one line, its error
        say(f"note: {', '.join(edited)} {'was' if len(edited) == 1 else 'were'} changed after l2cli wrote the run "
            f"(their SHA-256 is not the one {NAME} records)")
    report_verification(run, result, fmt, tablefmt, say, environment_notes, env_mode, everything)


def recreate_environment(recorded: dict, say) -> None:
    """Run this command with the recorded kernel and numpy dispatch, where this machine can run them; say once
    what cannot be re-created (and which level can still hold)."""
    from ..machine.kernels import replay_pins

    wanted, note = replay_pins(recorded)
    if note:
        say(note)
    if wanted:
        argv = without_option(click.get_current_context().meta["argv"], "--environment")
        with_kernels(wanted, [*argv, "--environment", "native"])  # the child replays with what it was given


def without_option(argv: list[str], name: str) -> list[str]:
    """argv without ``name VALUE`` and ``name=VALUE``."""
    out, skip = [], False
    for token in argv:
        if skip:
            skip = False
        elif token == name:
            skip = True
        elif not token.startswith(f"{name}="):
            out.append(token)
    return out


def environment_lines(recorded: dict) -> list[str]:
    """What differs between the recorded environment and this process's, one line each."""
    from ..machine.environment import differences, record

    return differences(recorded, record())


#: The most file-and-column rows of verify's summary (a screen, with the lines around it).
SUMMARY_ROWS = 40


def report_verification(run, result, fmt, tablefmt, say, environment_notes, env_mode, everything=False) -> None:
    """The table of what differs (a summary per file and column for people, every row with --all or for
    pipes; or the conclusions' checks), the closing line, and exit 1 on failure; --format json prints one
    document whatever the outcome."""
    total = sum(result.compared.values())
    if fmt == "json":
        doc = {"run": str(run), "level": result.level, "passed": result.passed, "compared": result.compared,
               "environment": {"mode": env_mode, "differences": environment_notes},
               "differences": json.loads(result.differences.to_json(orient="records")) if len(result.differences)
               else [],
               "conclusions": None if result.conclusions is None else
               json.loads(result.conclusions.to_json(orient="records"))}
        click.echo(json.dumps(doc, indent=2))
    elif result.level == "conclusions":
        echo_table(result.conclusions, fmt, tablefmt, floatfmt=".6g")
    elif len(result.differences):
        echo_differences(result.differences, fmt, tablefmt, everything, say)
    n_diff = len(result.differences)
    if result.level == "conclusions":
        failed = result.conclusions[result.conclusions["verdict"] == "fail"]
        exact = "every number the same" if n_diff == 0 else f"{n_diff} of {total:,} numbers differ"
        if result.passed:
            say(f"verified {run}: level conclusions holds ({len(result.conclusions)} checks; {exact})")
            return
        first = failed.iloc[0]
        at = "" if pd_isna(first.get("lambda")) else f" at λ = {first['lambda']:g}"
        say(f"verify FAILED for {run}: level conclusions does not hold: {len(failed)} of {len(result.conclusions)} "
            f"checks fail, the first {first['check']}{at}: {first['reason']}")
        sys.exit(1)
    if n_diff == 0:
        say(f"verified {run}: level {result.level} holds; {total:,} numbers of {', '.join(result.compared)} "
            "are equal" + ("" if result.level == "exact" else " within the tolerances"))
        return
    hint = ""
    if environment_notes:
        hint = ("; the environment differs (above): " + ("--environment recorded re-creates what it can, "
                if env_mode == "native" else "") + "--level conclusions checks what the run concluded")
    say(f"verify FAILED for {run}: level {result.level}: {n_diff} of {total:,} numbers differ{hint}")
    sys.exit(1)


def echo_differences(differences, fmt, tablefmt, everything, say) -> None:
    """Every differing number (--all, or a format for pipes), or for people a summary that fits a screen."""
    from ..tools.verify import lambda_text, summarize_differences

    if everything or fmt not in ("table", "markdown"):
        shown = differences.copy()
        if fmt in ("table", "markdown"):  # λ in its shortest form, no 'nan' where a row has no epoch
            from ..rundir.formats import as_text

            if "lambda" in shown:
                shown["lambda"] = shown["lambda"].map(lambda_text)
            shown = as_text(shown, 17)
        echo_table(shown, fmt, tablefmt, floatfmt=".17g")
        return
    summary = summarize_differences(differences)
    echo_table(summary.head(SUMMARY_ROWS), fmt, tablefmt, floatfmt=".3g")
    if len(summary) > SUMMARY_ROWS:
        say(f"… and {len(summary) - SUMMARY_ROWS} more files and columns that differ (--all shows every number)")
    else:
        say(f"the {len(differences):,} differing numbers, a row each: --all (or --format csv)")


def pd_isna(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@cli.command("diff")
@click.argument("run_a", type=click.Path(file_okay=False))
@click.argument("run_b", type=click.Path(file_okay=False))
@click.option("--all", "include_same", is_flag=True,
              help="Also the metrics that did not change, the environments' differences, and the config keys "
                   "that cannot change a number (output.dir, the layout, the executor).")
@click.option("--exact", is_flag=True,
              help="Every difference is a change, down to the last bit (default: a metric that moved within "
                   "verify's numbers level, 1e-12 + 1e-6·|old|, did not change; nor does the environment).")
@click.option("--fail-on", "fail_on", multiple=True, metavar="METRIC[=TOL]",
              help="Exit 1 when METRIC (test_loss, val_accuracy, …) of some λ moved by more than TOL, relative "
                   "(0.01: 1 %) or absolute (abs:0.001), or beyond the numbers level without TOL; or "
                   "selected_lambda, when the selected λ differs. Prints only what crossed. Repeatable.")
@click.option("--precision", default=4, show_default=True, type=click.IntRange(1, 17),
              help="Significant digits in the table.")
@format_options
def diff_runs(run_a, run_b, include_same, exact, fail_on, precision, fmt, tablefmt):
    """Compare two runs: the config keys that differ, then each λ's (and grid cell's) aggregate metrics
    in both and their change (only the changed ones unless --all). With --fail-on, a gate for CI: exit 1
    and the changes that crossed a rule, exit 0 when none did."""
    from ..rundir.run import Run
    from ..tools.diff import Rule, crossing, diff

    rules = [Rule.parse(text) for text in fail_on]
    a, b = Run.load(run_a), Run.load(run_b)
    if rules:
        table = crossing(a, b, rules)
        if table.empty:
            click.echo(f"l2cli: no change crossed --fail-on ({', '.join(fail_on)})", err=True)
            return
        echo_diff(table, fmt, tablefmt, precision)
        click.echo(f"l2cli: {len(table)} change(s) crossed --fail-on ({', '.join(fail_on)})", err=True)
        sys.exit(1)
    table = diff(a, b, include_same, exact)
    if not (include_same or exact):
        from ..tools.diff import environment_changes

        parts = [row["name"] for row in environment_changes(a, b)]
        if parts:
            click.echo(f"l2cli: the environments differ in {len(parts)} part{'s' * (len(parts) > 1)} "
                       f"({', '.join(parts[:3])}{', …' * (len(parts) > 3)}): --all shows "
                       f"{'them' if len(parts) > 1 else 'it'}", err=True)
    if table.empty and fmt in ("table", "markdown"):
        click.echo("l2cli: no differences" + ("" if include_same or exact else
                                              " beyond the numbers level (--exact: every bit; --all: every metric)"),
                   err=True)
        return
    echo_diff(table, fmt, tablefmt, precision)


#: The widest text cell of a diff shown to people (environment values run to hundreds of characters).
WIDEST = 40


def echo_diff(table, fmt, tablefmt, precision) -> None:
    if fmt in ("table", "markdown"):  # one precision for the numbers of columns that also hold text
        from ..rundir.formats import as_text

        table = as_text(table, precision).map(
            lambda v: v[:WIDEST - 1] + "…" if isinstance(v, str) and len(v) > WIDEST else v)
    echo_table(table, fmt, tablefmt, floatfmt=f".{precision}g")
