"""l2cli sweep: train, write the run directory, report; signals, kernels and resume."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from ..errors import InputError, RunFailure, describe_os_error, is_system_fault
from ..vocabulary.choices import SELECTION_RULES
from .app import CliError, Terminated, cli, echo_table, finite, format_options
from .options import data_and_model_options, experiment_config, keyed, training_options, with_options
from .progress import ProgressBar, ProgressLines


@cli.command()
@with_options(data_and_model_options() + training_options())
@click.option("--grid", "grid", multiple=True, metavar="SECTION.KEY=V1,V2,...",
              help="An extra sweep axis, e.g. 'model.hidden=[8],[16]' or 'data.n_train=50,200,800'; "
                   "repeat for a full product.")
@click.option("--cv", type=int, help="Select λ by k-fold cross-validation on the training part.")
@click.option("--select", "rule", type=click.Choice(SELECTION_RULES),
              help="Selection rule: lowest mean validation loss, or the largest λ within one standard error.")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (must not exist or be empty).")
@click.option("--resume", is_flag=True, help="Continue the interrupted run in --out, with its own config.")
@click.option("--overwrite", is_flag=True, help="Replace the run in --out (unless another sweep is writing it).")
@keyed("--portable", "sweep.portable", is_flag=True, default=None,
       help="Train on the kernels every x86-64 CPU with AVX2 has (OpenBLAS Haswell, numpy's X86_V3 loops; arm64: "
            "the generic ones): the run then verifies exactly on any such machine, with nothing pinned")
@click.option("--progress", type=click.Choice(("auto", "bar", "lines", "none")), default="auto", show_default=True,
              help="How training progress shows on stderr: auto is a bar on a terminal and plain lines otherwise "
                   "(a CI log); -q means none.")
@click.option("--progress-every", type=float, default=30.0, show_default=True, callback=finite(0.0, low_open=True),
              help="Seconds between two progress lines.")
@format_options
@click.option("-q", "--quiet", is_flag=True, help="Nothing on stderr but errors: no progress, notes or summary "
              "line (the exit code says how the run went).")
def sweep(out, fmt, tablefmt, quiet, cv, rule, resume, overwrite, progress, progress_every, portable, **options):
    """Train one model per (λ, seed) and write the run directory.

    CONFIG is a TOML experiment file; without one the default experiment
    (configs/default.toml) runs. Precedence: defaults < CONFIG < --set < flags.
    Files: summary.csv, history.csv, aggregate.csv, selection.json,
    manifest.json, weights.npz (and cv.csv with --cv).
    """
    from ..rundir.run import default_path

    if out is not None and not out.strip():
        raise CliError("--out: give a directory; without --out the run goes to runs/<date>-<time>-<dataset>")
    if resume and (not out or overwrite):
        raise CliError("--resume continues the run in --out DIR: give --out, and not --overwrite")
    cfg = experiment_config(**options, more={"sweep.cv": cv, "sweep.select": rule, "output.dir": out,
                                             "sweep.portable": portable or None})
    argv = click.get_current_context().meta["argv"]
    if cfg.sweep.portable or (resume and recorded_portable(out)):
        pin_portable(argv)
    name = Path(cfg.data.path).stem if cfg.data.path else cfg.data.dataset
    reserved = None if cfg.output.dir else default_path(name)
    path = cfg.output.dir or str(reserved)
    say = None if quiet else (lambda line: click.echo(line, err=True))
    try:
        with stopped_by_signals(path, say):
            run = train_and_write(cfg, path, argv, resume, overwrite, say, "none" if quiet else progress,
                                  progress_every)
    finally:
        if reserved is not None:  # a default directory that nothing was written to goes again
            with contextlib.suppress(OSError):
                reserved.rmdir()
    echo_table(run.summary, fmt, tablefmt, "summary", run.grid_keys)
    if say:
        report_run(run, cfg, say)
    if run.failed:  # exit 1 says it under -q too; the line is for people
        n_bad = int((run.summary["status"] == "diverged").sum())
        if say:
            say(f"l2cli: {n_bad} model(s) diverged (NaN/inf); lower --lr or check the data")
        sys.exit(1)


def report_run(run, cfg, say) -> None:
    """The lines on stderr after a sweep: the curvature diagnostics, where the run went and what it chose, the
    units of its losses, and every note."""
    for line in curvature_lines(run.manifest.get("curvature")):
        say(line)
    say(f"l2cli: wrote {run.path} in {run.seconds:.1f} s{selection_note(run.selection)}")
    if run.loss_units:
        say(f"l2cli: {run.loss_units}")
    if run.selection.get("at_edge"):
        from ..sweeps.selection import edge_note

        say(f"l2cli: {edge_note(run.selection, cfg.sweep.lambdas)}")
    for remark in run.selection.get("remarks", []):
        say(f"l2cli: note: {remark}")
    if run.manifest.get("numeric_warnings"):
        from ..training.numeric_warnings import line

        say(f"l2cli: {line(run.manifest['numeric_warnings'])}")


def recorded_portable(out: str) -> bool:
    """Whether the interrupted run in ``out`` is a portable one (its plan says; False when unreadable)."""
    from ..sweeps.runner import recorded_config

    try:
        return recorded_config(out).sweep.portable
    except InputError:
        return False


def pin_portable(argv: list[str]) -> None:
    """The one place a portable run (sweep.portable) gets its kernels: this command (a sweep, its --resume, a
    verify of a portable run, whatever --environment says) runs with them, from here or in a child process."""
    from ..machine.environment import portable_variables

    with_kernels(portable_variables(), argv)


def with_kernels(wanted: dict[str, str], argv: list[str]) -> None:
    """Run this command with the kernels ``wanted`` names (l2cli.machine.kernels): from here on, or in a child
    process whose output and exit code become this one's."""
    from ..machine.kernels import with_kernels as run_with

    child = run_with(wanted, argv)
    if child is not None:
        click.echo(child.stdout, nl=False)
        click.echo(child.stderr, nl=False, err=True)
        sys.exit(child.returncode)


@contextlib.contextmanager
def stopped_by_signals(path: str, say):
    """SIGINT and SIGTERM (Terminated, raised by Command.invoke's handler) stop the sweep and its workers at
    once: exit 130 or 143, the finished work kept for --resume. An unexpected error says where the finished
    work is, then shows its traceback."""
    try:
        yield
    except (KeyboardInterrupt, Terminated) as exc:
        code = 143 if isinstance(exc, Terminated) else 130
        click.echo(f"\nl2cli: stopped by {'SIGTERM' if code == 143 else 'SIGINT'}{kept_note(path)}", err=True)
        sys.exit(code)
    except RunFailure as exc:  # the cluster went away, say: one line, and where the finished work is
        click.echo(f"Error: {exc}{kept_note(path)}", err=True)
        sys.exit(1)
    except (InputError, click.ClickException):
        raise
    except OSError as exc:
        if not is_system_fault(exc):
            click.echo(f"l2cli: internal error{kept_note(path)}", err=True)
            raise
        click.echo(f"Error: {describe_os_error(exc)}{kept_note(path)}", err=True)
        sys.exit(1)
    except Exception as exc:
        if type(exc).__name__ == "BrokenProcessPool":  # a worker killed (SIGKILL: what the OOM killer sends)
            click.echo(f"Error: a worker process died while training (killed by a signal: out of memory? see "
                       f"'dmesg'){kept_note(path)}", err=True)
            sys.exit(1)
        click.echo(f"l2cli: internal error{kept_note(path)}", err=True)
        raise


def kept_note(path: str) -> str:
    """Where the finished work of an interrupted run is, if any is."""
    from ..rundir.run import plan_file

    try:
        if not plan_file(path).is_file():
            return ""
    except OSError:
        return ""
    return f"; the finished work is kept in {path}: l2cli sweep --resume --out {path}"


def train_and_write(cfg, path: str, argv: list[str], resume: bool, overwrite: bool, say, progress: str,
                    every_s: float):
    """A new run in ``path``, or the interrupted one there continued, with its progress shown as ``progress``
    says: bar, lines (every ``every_s`` seconds), none, or auto (a bar on a terminal, else lines)."""
    from ..optim import METHODS
    from ..sweeps.runner import recorded_config, resume_experiment, run_experiment, total_model_epochs, total_models

    run_cfg = recorded_config(path) if resume else cfg
    total = total_model_epochs(run_cfg)
    if progress == "auto":
        progress = "bar" if sys.stderr.isatty() else "lines"
    models, folds = total_models(run_cfg) // (1 + run_cfg.sweep.cv), run_cfg.sweep.cv
    stops_early = any(METHODS[c.train.optimizer].stops_itself or c.train.tol > 0 or c.train.early_stopping
                      for c in (run_cfg.at(v) for v in run_cfg.cells()))
    reporter = (ProgressBar(total, show=True) if progress == "bar" else
                ProgressLines(total, models, folds, every_s, stops_early) if progress == "lines" else
                ProgressBar(total, show=False))
    with reporter:
        if resume:
            return resume_experiment(path, cfg, reporter, say)
        return run_experiment(cfg, out=path, argv=argv, progress=reporter, log=say, overwrite=overwrite)


def cell_text(selection: dict) -> str:
    """The selected grid cell as 'key=value, …' (empty without a grid)."""
    return ", ".join(f"{k}={v}" for k, v in selection.get("axes", {}).items())


def selection_note(selection: dict) -> str:
    chosen = selection.get("lambda")
    if chosen is None:
        return f"; no λ selected: {selection.get('reason')}" if selection.get("source") else ""
    cell = f" in {cell_text(selection)}" if selection.get("axes") else ""
    note = f"; selected λ = {chosen:g}{cell} ({selection['source']}, rule {selection['rule']})"
    if selection.get("rule") == "evidence" and selection.get("n_left_out"):
        note += f", {selection['n_left_out']} λ left out with no evidence"
    other = selection.get("by_validation") if selection.get("rule") == "evidence" else None
    if other and other.get("lambda") is not None and selection.get("by_evidence"):
        mine = selection["by_evidence"].get("test_loss_mean")
        note += (f"; test loss {mine:.4g}" if mine is not None else "") + \
            f"; by validation λ = {other['lambda']:g}" + (f", test loss {other['test_loss_mean']:.4g}"
                                                          if other.get("test_loss_mean") is not None else "")
    return note


def curvature_lines(info: dict | None) -> list[str]:
    """The line that says whether the curvature diagnostics ran, how, and the key that decides; then one line
    per grid cell whose models got no evidence, and why."""
    if not info:
        return []
    methods = sorted({m for m in info.get("methods", []) if m})
    if not methods:
        return [f"l2cli: curvature diagnostics off ({info.get('reason')})"]  # the key that turns them on
    return [f"l2cli: curvature diagnostics ({', '.join(methods)}): effective_params, log_evidence "
            f"({info.get('reason')}; off skips them)", *(f"l2cli: note: {n}" for n in info.get("notes", []))]
