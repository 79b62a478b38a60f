"""The ``l2cli`` command line: parses options, calls the library, formats output.

Only click and l2cli's leaf modules are imported at start-up; each command
imports what it uses, so ``--help``, ``--version``, ``best`` and shell
completion never load numpy, pandas or scikit-learn.

Exit codes: 0 success; 1 run failure (a model diverged, a gradient check
failed, or an internal error); 2 usage or input error, reported on one line.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
from pathlib import Path

import click

from . import __version__
from .choices import (
    FORMATS,
    PANELS,
    SELECTION_RULES,
)
from .config import parse_list, resolve
from .errors import InputError, RunFailure, describe_os_error, is_system_fault

#: The columns that `table` and `markdown` show of each table; csv, tsv and json carry every column.
VIEW_COLUMNS = {
    "summary": ("lambda", "seed", "status", "epochs", "start", "train_loss", "val_loss", "test_loss", "penalty",
                "weight_norm", "train_accuracy", "val_accuracy", "test_accuracy", "train_r2", "val_r2", "test_r2"),
    "aggregate": ("lambda", "n_seeds", "train_loss_mean", "val_loss_mean", "val_loss_ci95", "test_loss_mean",
                  "test_loss_ci95", "weight_norm_mean", "test_accuracy_mean", "test_r2_mean"),
    "history": ("lambda", "seed", "epoch", "train_loss", "val_loss", "test_loss", "penalty", "weight_norm"),
}


class CliError(click.ClickException):
    """A user error: one line on stderr, exit code 2."""

    exit_code = 2


class OneLineUsage:
    """Report click's own usage errors on one line, like every other input error."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            path = f"{parent.command_path} {info_name}" if parent else info_name
            raise CliError(f"{exc.format_message()} (see '{path} --help')") from None


class Command(OneLineUsage, click.Command):
    def parse_args(self, ctx, args):
        refuse_repeated_options(self, args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        """Every command: an InputError is one line and exit 2, a RunFailure one line and exit 1, and SIGINT or
        SIGTERM end it with 130 or 143 (a sweep says more: see stopped_by_signals)."""
        def on_term(signum, frame):
            raise Terminated

        previous = signal.signal(signal.SIGTERM, on_term)
        try:
            return super().invoke(ctx)
        except InputError as exc:
            raise CliError(str(exc)) from None
        except RunFailure as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)
        except OSError as exc:  # a full disk, a read-only or forbidden place, a name too long: one line, exit 2
            if not is_system_fault(exc):
                raise
            click.echo(f"Error: {describe_os_error(exc)}", err=True)
            sys.exit(2)
        except (KeyboardInterrupt, Terminated) as exc:
            code = 143 if isinstance(exc, Terminated) else 130
            click.echo(f"\nl2cli: stopped by {'SIGTERM' if code == 143 else 'SIGINT'}", err=True)
            sys.exit(code)
        finally:
            signal.signal(signal.SIGTERM, previous)


class Terminated(BaseException):
    """SIGTERM, raised where the command is, to end it as Ctrl-C does."""


def refuse_repeated_options(command: click.Command, args: list[str]) -> None:
    """An option given twice with different values, or two flags that set the same thing differently (show's
    views), is refused: click would keep the last one silently. Repeatable options (--set, --grid) are left to
    the config, which checks what they set."""
    options = {opt: p for p in command.params if isinstance(p, click.Option) and not p.multiple
               for opt in p.opts + p.secondary_opts}
    seen: dict[str, list[tuple[str, object]]] = {}
    tokens = iter(args)
    for token in tokens:
        if token == "--":
            break
        name, eq, value = token.partition("=") if token.startswith("--") else (token, "", "")
        param = options.get(name)
        if param is None:
            continue
        if param.is_flag or param.count:
            given = param.flag_value if name not in param.secondary_opts else not param.flag_value
        else:
            given = value if eq else next(tokens, None)
        seen.setdefault(param.name, []).append((name, given))
    for uses in seen.values():
        if len({repr(v) for _, v in uses}) > 1:
            (first, a), (second, b) = uses[0], next(u for u in uses if repr(u[1]) != repr(uses[0][1]))
            if first == second:
                raise CliError(f"{first} is given twice, as {a} and {b}: give it once")
            raise CliError(f"{first} and {second} ask for different things: give one of them")


class CommandGroup(OneLineUsage, click.Group):
    command_class = Command

    def make_context(self, info_name, args, parent=None, **extra):
        """Keep the arguments as given (``ctx.meta["argv"]``): manifest.json records the command that ran."""
        argv = ["l2cli", *args]
        ctx = super().make_context(info_name, args, parent, **extra)
        ctx.meta["argv"] = argv
        return ctx

    def resolve_command(self, ctx, args):
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            raise CliError(f"{exc.format_message()} (see '{ctx.command_path} --help')") from None


@click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="l2cli")
def cli():
    """See what L2 regularization does: sweep λ over a NumPy MLP, write loss and weight-norm tables.

    Exit codes: 0 success, 1 run failure (a model diverged, a gradient check
    failed, verify found a difference), 2 usage or input error, 130 stopped
    by SIGINT (Ctrl-C), 143 stopped by SIGTERM; the finished work of a
    stopped sweep is kept for --resume.
    """


LAMBDAS_HELP = ("λ grid: a list '0,1e-4,1e-3', a log grid 'logspace(-6,0,13)' "
                "(10^-6 … 10^0, 13 values), or both: '0,logspace(-6,0,13)'. Quote it in the shell.")


def check_style(ctx, param, value: str) -> str:
    """--fmt must be one of tabulate's styles (imported only when another than the default is asked for)."""
    if value != "simple":
        from tabulate import tabulate_formats

        if value not in tabulate_formats:
            from .config import suggest

            raise CliError(f"--fmt: {value!r} is not a tabulate style{suggest(value, tabulate_formats)}; "
                           f"choose from {', '.join(sorted(tabulate_formats))}")
    return value


def finite(low: float, low_open: bool):
    """A click callback: the value is a finite number above low (or at it, unless low_open), when given."""
    def check(ctx, param, value):
        if value is not None and not (math.isfinite(value) and (value > low or (value == low and not low_open))):
            raise CliError(f"{param.opts[0]}: expected a finite number {'>' if low_open else '≥'} {low:g}, "
                           f"got {value!r}")
        return value
    return check


def format_options(f):
    f = click.option("--fmt", "tablefmt", default="simple", show_default=True, callback=check_style,
                     help="tabulate style for --format table (github, grid, plain, …).")(f)
    f = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                     help="What to print on stdout; csv, tsv and json carry every column.")(f)
    return f


def echo_table(frame, fmt: str, tablefmt: str, view: str | None = None, grid_keys=(), floatfmt=".4g") -> None:
    """Print a table on stdout: the compact view (plus grid columns and the selection mark) for people,
    every column for pipes."""
    from .formats import compact, render

    if view and fmt in ("table", "markdown"):
        frame = compact(frame, VIEW_COLUMNS[view], grid_keys)
    click.echo(render(frame, fmt, tablefmt, floatfmt), nl=False)


def keyed(flag: str, dotted: str, dest: str | None = None, help: str | None = None, **kw):
    """A flag that sets the config key ``dotted``: its help (the key's own unless given), its choices and its
    default come from the key's declaration (l2cli.config), so they cannot disagree."""
    import dataclasses

    from .config import Choice, declaration

    field = declaration(dotted)
    kind = field.metadata["kind"]
    default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
    if isinstance(kind, Choice) and "type" not in kw:
        kw["type"] = click.Choice(kind.options)
    text = help or field.metadata["help"]
    shown = "''" if default == "" else json.dumps(default) if isinstance(default, list) else default
    decls = (flag, dest) if dest else (flag,)
    return click.option(*decls, help=f"{text.rstrip('.')}. [{dotted}; default: {shown}]", **kw)


def data_and_model_options():
    """The config file, the data, the network and --set: what every command that builds a network reads."""
    return [
        click.argument("config", required=False, type=click.Path(dir_okay=False)),
        keyed("--dataset", "data.dataset", type=str, metavar="NAME", help="Built-in dataset (see 'l2cli datasets')"),
        keyed("--data", "data.path", "data_path", type=click.Path(dir_okay=False),
              help="Table to use instead of a built-in dataset: CSV (.csv, .tsv, also .gz, .bz2, .xz), Excel "
                   "(.xlsx: pip install 'l2cli[excel]') or Parquet (.parquet: pip install 'l2cli[parquet]')"),
        keyed("--target", "data.target"),
        keyed("--features", "data.features", help="CSV columns to use as features, e.g. 'age,island'; "
              "empty: every column but the target"),
        keyed("--drop", "data.drop", help="CSV columns to leave out, e.g. 'id,name'"),
        keyed("--na", "data.na"),
        keyed("--sep", "data.sep", metavar="SEP", help="CSV separator: auto (detected: comma, semicolon or tab), "
              "',', ';', tab or '|'"),
        keyed("--encoding", "data.encoding", metavar="NAME", help="Text encoding of the CSV file, e.g. latin-1, "
              "cp1252, utf-16"),
        keyed("--decimal", "data.decimal", help="Decimal mark of the CSV file's numbers ('5,1' needs --decimal ,)"),
        keyed("--thousands", "data.thousands", help="Thousands separator of the CSV file's numbers ('1.234,5' "
              "needs --decimal , --thousands .)"),
        keyed("--dates", "data.dates", multiple=True, metavar="NAME[=FORMAT]",
              help="A date column, with its strftime format unless l2cli recognises it, e.g. 'date=%d/%m/%Y'; "
                   "repeatable"),
        keyed("--task", "data.task", help="Classification, regression or auto (inferred from the target)"),
        keyed("--lambdas", "sweep.lambdas", help=LAMBDAS_HELP),
        keyed("--seeds", "sweep.seeds", help="Model seeds, e.g. '0,1,2' (initialisation and batch order)"),
        keyed("--hidden", "model.hidden", help="Hidden widths, e.g. '64,64'; '' for none (a linear/logistic "
              "model)"),
        keyed("--activation", "model.activation", help="Hidden activation"),
        click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
                     help="Set any config key; the value is a TOML literal. Repeatable."),
    ]


def training_options():
    """How to train: what sweep reads beyond the data and the network."""
    return [
        keyed("--optimizer", "train.optimizer"),
        keyed("--decay", "train.decay", help="How λ enters a step: l2 (its gradient 2λθ joins ∂L/∂θ) or "
              "decoupled (θ ← (1 − 2ηλ)θ beside the step, as AdamW)"),
        keyed("--lr", "train.lr", type=float),
        keyed("--epochs", "train.epochs", type=int),
        keyed("--batch-size", "train.batch_size", type=int),
        keyed("--dtype", "train.dtype", help="Floating-point type of the networks"),
        keyed("--executor", "sweep.executor", help="Where chunks train: local processes or a Dask cluster "
              "(pip install 'l2cli[dask]')"),
        keyed("--address", "sweep.address", help="Dask scheduler tcp://HOST:PORT; empty: a LocalCluster here"),
        keyed("--jobs", "sweep.jobs", type=int, help="Most cores this sweep uses (processes × BLAS threads), "
              "for sweeps run side by side; 0: every core this process may use"),
        keyed("--path", "sweep.path", help="cold: every model from its initialisation; warm: each seed's λ "
              "grid from the smallest, each model from the previous λ's final parameters"),
    ]


def with_options(options):
    def decorate(f):
        for option in reversed(options):
            f = option(f)
        return f
    return decorate


#: flag -> config key, for the flags whose value goes into the config as it is
FLAG_KEYS = {"dataset": "data.dataset", "data_path": "data.path", "target": "data.target", "na": "data.na",
             "sep": "data.sep", "encoding": "data.encoding", "decimal": "data.decimal", "thousands": "data.thousands",
             "task": "data.task", "lambdas": "sweep.lambdas", "activation": "model.activation",
             "optimizer": "train.optimizer", "decay": "train.decay", "lr": "train.lr", "epochs": "train.epochs",
             "batch_size": "train.batch_size", "dtype": "train.dtype", "executor": "sweep.executor",
             "address": "sweep.address", "jobs": "sweep.jobs", "path": "sweep.path"}
#: flag -> (config key, example), for the flags that take a comma-separated list
LIST_FLAGS = {"seeds": ("sweep.seeds", "0,1,2"), "hidden": ("model.hidden", "64,64"),
              "features": ("data.features", "age,island"), "drop": ("data.drop", "id,name")}


def experiment_config(config, overrides, grid=(), more=None, **options):
    """The config from a file, --set and the dedicated flags (later wins)."""
    csv_only = [f for f in ("na", "sep", "encoding", "decimal", "thousands", "dates") if options.get(f)]
    if options.get("data_path") is None and csv_only:
        raise InputError(f"--{csv_only[0]} applies to a table file: give one with --data FILE")
    flags = {key: options.get(flag) for flag, key in FLAG_KEYS.items()}
    if options.get("dates"):
        flags["data.dates"] = list(options["dates"])
    for flag, (key, example) in LIST_FLAGS.items():
        if options.get(flag) is not None:
            flags[key] = parse_list(options[flag], f"--{flag}", example, int if flag in ("seeds", "hidden") else str)
    return resolve(config, overrides, {**flags, **(more or {})}, grid)


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
    from .rundir import default_path

    if out is not None and not out.strip():
        raise CliError("--out: give a directory; without --out the run goes to runs/<date>-<time>-<dataset>")
    if resume and (not out or overwrite):
        raise CliError("--resume continues the run in --out DIR: give --out, and not --overwrite")
    cfg = experiment_config(**options, more={"sweep.cv": cv, "sweep.select": rule, "output.dir": out,
                                             "sweep.portable": portable or None})
    argv = click.get_current_context().meta["argv"]
    if cfg.sweep.portable or (resume and recorded_portable(out)):
        from .environment import portable_variables

        with_kernels(portable_variables(), argv)
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
        if (line := curvature_note(run.manifest.get("curvature"))) is not None:
            say(line)
        say(f"l2cli: wrote {run.path} in {run.seconds:.1f} s{selection_note(run.selection)}")
        if run.selection.get("at_edge"):
            from .selection import edge_note

            say(f"l2cli: {edge_note(run.selection, cfg.sweep.lambdas)}")
        for remark in run.selection.get("remarks", []):
            say(f"l2cli: note: {remark}")
        if run.manifest.get("numeric_warnings"):
            from .numeric_warnings import line

            say(f"l2cli: {line(run.manifest['numeric_warnings'])}")
    if run.failed:  # exit 1 says it under -q too; the line is for people
        n_bad = int((run.summary["status"] == "diverged").sum())
        if say:
            say(f"l2cli: {n_bad} model(s) diverged (NaN/inf); lower --lr or check the data")
        sys.exit(1)


def recorded_portable(out: str) -> bool:
    """Whether the interrupted run in ``out`` is a portable one (its plan says; False when unreadable)."""
    from .runner import recorded_config

    try:
        return recorded_config(out).sweep.portable
    except InputError:
        return False


def with_kernels(wanted: dict[str, str], argv: list[str]) -> None:
    """Make this command run with the BLAS kernel and numpy dispatch ``wanted`` names (l2cli.environment):
    before numpy loads, by setting the variables here (worker processes inherit them); once it has loaded
    with others, by running the same command again in a child process that has them, whose output and
    exit code become this one's."""
    from .environment import in_force, numpy_loaded

    if not numpy_loaded():
        os.environ.update(wanted)
        return
    if in_force(wanted):
        return
    import subprocess

    child = subprocess.run([sys.executable, "-m", "l2cli", *argv[1:]], env={**os.environ, **wanted},
                           capture_output=True, text=True, stdin=subprocess.DEVNULL)
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
    from .rundir import PROGRESS

    try:
        if not (Path(path) / PROGRESS / "plan.json").is_file():
            return ""
    except OSError:
        return ""
    return f"; the finished work is kept in {path}: l2cli sweep --resume --out {path}"


def train_and_write(cfg, path: str, argv: list[str], resume: bool, overwrite: bool, say, progress: str,
                    every_s: float):
    """A new run in ``path``, or the interrupted one there continued, with its progress shown as ``progress``
    says: bar, lines (every ``every_s`` seconds), none, or auto (a bar on a terminal, else lines)."""
    from .runner import recorded_config, resume_experiment, run_experiment, total_model_epochs, total_models

    run_cfg = recorded_config(path) if resume else cfg
    total = total_model_epochs(run_cfg)
    if progress == "auto":
        progress = "bar" if sys.stderr.isatty() else "lines"
    reporter = (ProgressBar(total, show=True) if progress == "bar" else
                ProgressLines(total, total // max(1, total_models(run_cfg)), every_s) if progress == "lines" else
                ProgressBar(total, show=False))
    with reporter:
        if resume:
            return resume_experiment(path, cfg, reporter, say)
        return run_experiment(cfg, out=path, argv=argv, progress=reporter, log=say, overwrite=overwrite)


class ProgressLines:
    """Progress for logs (stderr not a terminal): one plain line every ``every_s`` seconds and after each grid
    cell: models done of the total, the share of the work, the time so far and left, the best validation
    loss so far. A timer thread writes the lines, so they come on time while workers train."""

    def __init__(self, total: int, units_per_model: int, every_s: float):
        import threading
        import time

        self.total, self.per_model, self.every_s = max(1, total), max(1, units_per_model), every_s
        self.units = self.models = 0
        self.best = math.inf
        self.started = time.monotonic()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._tick, daemon=True)

    def __call__(self, n: int) -> None:
        self.units += n

    def chunk_done(self, summary) -> None:
        self.models += len(summary)
        if "val_loss" in summary:
            finite = summary["val_loss"][summary["status"] != "diverged"].dropna()
            if len(finite):
                self.best = min(self.best, float(finite.min()))

    def cell_done(self, values: dict) -> None:
        click.echo(f"l2cli: grid cell {', '.join(f'{k}={v}' for k, v in values.items())} done; {self.line()}",
                   err=True)

    def line(self) -> str:
        import time

        elapsed = time.monotonic() - self.started
        share = min(1.0, self.units / self.total)
        left = f", about {_duration(elapsed * (1 - share) / share)} left" if 0 < share < 1 else ""
        best = f", best validation loss so far {self.best:.4g}" if math.isfinite(self.best) else ""
        return (f"{self.models:,} of {self.total // self.per_model:,} models done ({share:.0%} of the training), "
                f"{_duration(elapsed)} elapsed{left}{best}")

    def _tick(self) -> None:
        while not self.stop.wait(self.every_s):
            click.echo(f"l2cli: {self.line()}", err=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def _duration(seconds: float) -> str:
    """'45s', '3m05s', '2h07m'."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class ProgressBar:
    """click's progress bar on stderr, opened at the first progress, so that lines said before training
    (the description of the sweep) stand on their own lines above it."""

    def __init__(self, total: int, show: bool):
        self.total, self.show, self.bar = total, show, None

    def __call__(self, n: int) -> None:
        if self.show and self.bar is None:
            self.bar = click.progressbar(length=self.total, label="training", file=sys.stderr).__enter__()
        if self.bar is not None:
            self.bar.update(n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)


def cell_text(selection: dict) -> str:
    """The selected grid cell as 'key=value, …' (empty without a grid)."""
    return ", ".join(f"{k}={v}" for k, v in selection.get("axes", {}).items())


def selection_note(selection: dict) -> str:
    chosen = selection.get("lambda")
    if chosen is None:
        return f"; no λ selected: {selection.get('reason')}" if selection.get("source") else ""
    cell = f" in {cell_text(selection)}" if selection.get("axes") else ""
    note = f"; selected λ = {chosen:g}{cell} ({selection['source']}, rule {selection['rule']})"
    other = selection.get("by_validation") if selection.get("rule") == "evidence" else None
    if other and other.get("lambda") is not None and selection.get("by_evidence"):
        mine = selection["by_evidence"].get("test_loss_mean")
        note += (f"; test loss {mine:.4g}" if mine is not None else "") + \
            f"; by validation λ = {other['lambda']:g}" + (f", test loss {other['test_loss_mean']:.4g}"
                                                          if other.get("test_loss_mean") is not None else "")
    return note


def curvature_note(info: dict | None) -> str | None:
    """The line that says whether the curvature diagnostics ran, how, and the key that decides."""
    if not info:
        return None
    methods = sorted({m for m in info.get("methods", []) if m})
    if not methods:
        return f"l2cli: curvature diagnostics off ({info.get('reason')})"  # the key that turns them on
    return (f"l2cli: curvature diagnostics ({', '.join(methods)}): effective_params, log_evidence "
            f"({info.get('reason')}; off skips them)")




@cli.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--history", "what", flag_value="history", help="The per-epoch history instead of the summary.")
@click.option("--aggregate", "what", flag_value="aggregate", help="Means and 95 % intervals over seeds.")
@click.option("--features", "what", flag_value="features",
              help="‖W1[j,:]‖ of every input feature j, λ × feature (mean over seeds).")
@click.option("--environment", "what", flag_value="environment",
              help="The numerical environment the run was made in: BLAS kernels, numpy dispatch, CPU, versions.")
@click.option("--selection", "what", flag_value="selection",
              help="How sure the choice of λ is: per λ the mean validation loss, its standard error, whether it "
                   "is within one SE of the best, and how often it wins over folds × seeds (or seeds).")
@format_options
def show(run, what, fmt, tablefmt):
    """Print a table of the run directory RUN (the summary unless asked otherwise)."""
    from .rundir import Run

    loaded = Run.load(run)
    what = what or "summary"
    if what == "features":
        from .formats import feature_matrix

        if loaded.features is None:
            raise CliError(f"{run} has no features.csv (it was written by an older l2cli)")
        echo_table(feature_matrix(loaded.features, loaded.grid_keys), fmt, tablefmt)
        return
    if what == "environment":
        import pandas as pd

        from .environment import flat

        env = loaded.manifest.get("environment")
        if not env:
            raise CliError(f"{run} has no environment record (it was written by an older l2cli)")
        echo_table(pd.DataFrame([{"part": k, "value": v} for k, v in flat(env).items()]), fmt, tablefmt)
        return
    if what == "selection":
        import pandas as pd

        if "table" not in loaded.selection:
            raise CliError(f"{run} has no per-λ selection table (it had no validation data, or was written by an "
                           "older l2cli)")
        echo_table(pd.DataFrame(loaded.selection["table"]), fmt, tablefmt)
        chosen = loaded.selection
        click.echo(f"l2cli: rule {chosen['rule']}: λ = {chosen['lambda']:g}; standard error "
                   f"{chosen['se']:.4g} over {chosen['se_n']} {chosen['se_over']}" if chosen.get("se") is not None
                   else f"l2cli: rule {chosen['rule']}: λ = {chosen['lambda']:g}; no standard error (one seed)",
                   err=True)
        return
    echo_table(loaded.table(what), fmt, tablefmt, what, loaded.grid_keys)


@cli.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--all", "everything", is_flag=True, help="Also the selected grid cell: one key=value per line.")
def best(run, everything):
    """Print the λ selected by validation loss in RUN, and nothing else: lam=$(l2cli best RUN).

    Exit 2 when the run had no validation data; exit 1 when it had, but no λ
    had a finite validation loss without a diverged model.
    """
    from .rundir import Run

    selection = Run.load(run).selection
    if selection.get("lambda") is None:
        message = f"{run}: no λ was selected ({selection.get('reason', 'no validation data')})"
        if selection.get("source"):  # there was validation data: a run failure, not a usage error
            click.echo(f"Error: {message}", err=True)
            sys.exit(1)
        raise CliError(message)
    lam = selection["lambda"]
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not math.isfinite(lam) or lam < 0:
        raise CliError(f"{run}/selection.json: its lambda is not a finite number ≥ 0; the file was changed "
                       "by hand or is damaged")
    if not everything:
        click.echo(repr(float(lam)))
        return
    click.echo(f"lambda={float(lam)!r}")
    axes = selection.get("axes") or {}
    if not isinstance(axes, dict):
        raise CliError(f"{run}/selection.json: its axes are not a table of grid keys")
    for key, value in axes.items():
        from .formats import printable

        click.echo(f"{printable(str(key))}={printable(str(value))}")


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
              help="With --level conclusions: the level of the two-sample tests (a smaller one is more lenient).")
@click.option("--data", "data", type=click.Path(dir_okay=False),
              help="Where the run's data file is now (its fingerprint must match the run's).")
@format_options
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary line on stderr.")
def verify(run, level, env_mode, rtol, atol, tols, confidence, data, fmt, tablefmt, quiet):
    """Re-run RUN from its manifest and compare it with the recorded run.

    The data must match the run's fingerprint (exit 2 otherwise). Before the
    replay, the run's numerical environment (BLAS kernel, numpy dispatch) is
    re-created where this machine can, and what still differs is said, one
    line each. Exit 0 when the level holds, 1 with a table of what differs.
    """
    from .rundir import Run

    say = (lambda line: None) if quiet else (lambda line: click.echo(f"l2cli: {line}", err=True))
    manifest = Run.load(run).manifest
    recorded = manifest.get("environment")
    if env_mode == "recorded" and recorded:
        recreate_environment(recorded, say)
    from .verify import parse_tolerance
    from .verify import verify as replay

    counts = manifest.get("data", {})
    tolerances = dict(parse_tolerance(t, {k: counts.get(k, 0) for k in ("n_train", "n_val", "n_test")})
                      for t in tols)
    if tolerances and level != "numbers":
        raise CliError("--tol goes with --level numbers")
    environment_notes = environment_lines(recorded) if recorded else []  # after the pins: what they left
    for line in environment_notes:
        say(f"environment: {line}")
    if environment_notes and level == "exact":
        say("environment: the numbers can differ in their last bits; --level numbers (tolerances) or --level "
            "conclusions (the choice of λ and its statistics) still check what holds")
    result = replay(run, rtol, atol, level=level, tolerances=tolerances, data=data, confidence=confidence)
    report_verification(run, result, fmt, tablefmt, say, environment_notes, env_mode)


def recreate_environment(recorded: dict, say) -> None:
    """Run this command with the recorded kernel and numpy dispatch, where this machine can run them; say once
    what cannot be re-created (and which level can still hold)."""
    from .environment import cpu, lacking, pins

    wanted = pins(recorded)
    flags = cpu()["vector_extensions"]
    kernel = wanted.get("OPENBLAS_CORETYPE")
    if kernel and lacking(kernel, flags):
        say(f"this CPU lacks what the recorded OpenBLAS {kernel} kernel needs ({', '.join(lacking(kernel, flags))}): "
            "replaying on this machine's own; if the numbers differ, --level numbers or --level conclusions")
        wanted.pop("OPENBLAS_CORETYPE")
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
    from .environment import differences, record

    return differences(recorded, record())


def report_verification(run, result, fmt, tablefmt, say, environment_notes, env_mode) -> None:
    """The table of what differs (or of the conclusions' checks), the closing line, and exit 1 on failure;
    --format json prints one document whatever the outcome."""
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
        echo_table(result.differences, fmt, tablefmt, floatfmt=".17g")
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


def pd_isna(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@cli.command("diff")
@click.argument("run_a", type=click.Path(file_okay=False))
@click.argument("run_b", type=click.Path(file_okay=False))
@click.option("--all", "include_same", is_flag=True,
              help="Also the metrics that did not change, and the config keys that cannot change a number "
                   "(output.dir, the layout, the executor).")
@click.option("--precision", default=4, show_default=True, type=click.IntRange(1, 17),
              help="Significant digits in the table.")
@format_options
def diff_runs(run_a, run_b, include_same, precision, fmt, tablefmt):
    """Compare two runs: the config keys that differ, then each λ's (and grid cell's) aggregate metrics
    in both and their change (only the changed ones unless --all)."""
    from .diff import diff
    from .rundir import Run

    table = diff(Run.load(run_a), Run.load(run_b), include_same)
    if table.empty and fmt in ("table", "markdown"):
        click.echo("l2cli: no differences" + ("" if include_same else " (--all shows every metric)"), err=True)
        return
    if fmt in ("table", "markdown"):  # one precision for the numbers of columns that also hold text
        from .formats import as_text

        table = as_text(table, precision)
    echo_table(table, fmt, tablefmt, floatfmt=f".{precision}g")


@cli.command()
@click.argument("directory", required=False, default="runs", type=click.Path(file_okay=False))
@format_options
def runs(directory, fmt, tablefmt):
    """List the runs in DIRECTORY (default: runs/) from their manifests."""
    import pandas as pd

    from .rundir import Run

    rows = [{"run": r.path.name, "dataset": r.manifest.get("data", {}).get("name"),
             "lambdas": len(r.manifest.get("config", {}).get("sweep", {}).get("lambdas", [])),
             "seeds": len(r.manifest.get("config", {}).get("sweep", {}).get("seeds", [])),
             "models": r.manifest.get("models"), "selected_lambda": r.selection.get("lambda"),
             "started": r.manifest.get("started")} for r in Run.list(directory)]
    columns = ["run", "dataset", "lambdas", "seeds", "models", "selected_lambda", "started"]
    echo_table(pd.DataFrame(rows, columns=columns), fmt, tablefmt)


@cli.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="PNG file (default: RUN/plot.png).")
@click.option("--panel", "panels", multiple=True, type=click.Choice(PANELS),
              help="A panel to draw (repeatable; default: every panel that applies to the run).")
@click.option("--seed", type=click.IntRange(min=0), help="The seed whose models the pictures show (default: 0).")
@click.option("--data", "data", type=click.Path(dir_okay=False),
              help="Where the run's data file is now, for the model panels (its fingerprint must match).")
def plot(run, output, panels, seed, data):
    """Draw RUN: loss and weight norm against λ, learning curves, the coefficient path, and the models
    themselves: decision boundaries, fitted curves, weight distributions (needs matplotlib)."""
    from .rundir import Run

    try:
        from .plot import plot_run
    except ImportError:
        raise CliError("l2cli plot needs matplotlib: pip install 'l2cli[plot]'") from None
    loaded = Run.load(run)
    loaded.data = data
    path = Path(output) if output else loaded.path / "plot.png"
    if not path.parent.is_dir():
        raise CliError(f"-o {path}: the directory {path.parent} does not exist")
    plot_run(loaded, path, panels or None, seed, log=lambda line: click.echo(line, err=True))
    click.echo(str(path))


@cli.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--data", "data", required=True, type=click.Path(dir_okay=False),
              help="Table of new rows with the run's feature columns (CSV, Excel or Parquet, read as the run read "
                   "its own).")
@click.option("--id", "ids", multiple=True, metavar="COLUMN",
              help="A column of the table to carry through to the output, first (to join it back); repeatable.")
@click.option("--on-error", "on_error", type=click.Choice(("fail", "skip")), default="fail", show_default=True,
              help="A row that cannot be predicted (a missing value the run would not impute, a value that is not "
                   "a finite number): fail naming its line, or skip it with one line on stderr.")
@click.option("--lambda", "lam", type=float, help="λ of the model (default: the selected λ).")
@click.option("--seed", type=click.IntRange(min=0), help="Seed of the model (default: 0).")
@click.option("--run-data", "run_data", type=click.Path(dir_okay=False),
              help="Where the run's own data file is now (its fingerprint must match): the preprocessing is "
                   "fitted again on its training rows.")
@format_options
@click.option("-q", "--quiet", is_flag=True, help="Nothing on stderr but errors (no warnings).")
def predict(run, data, ids, on_error, lam, seed, run_data, fmt, tablefmt, quiet):
    """Predict the rows of a CSV file with one model of RUN, through the run's own preprocessing.

    Prints one row per input row: the predicted class with each class's
    probability, or the predicted target on its original scale.
    """
    import warnings

    from .models import predict_file
    from .rundir import Run

    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        loaded = Run.load(run)
        loaded.data = run_data
        table = predict_file(loaded, data, lam, seed, ids, on_error,
                             log=None if quiet else lambda line: click.echo(line, err=True))
    echo_table(table, fmt, tablefmt, floatfmt=".6g")


@cli.command()
@with_options(data_and_model_options())
@click.option("--rows", default=16, show_default=True, type=click.IntRange(min=1),
              help="Training rows used for the check.")
@click.option("--lambda", "lam", type=float, callback=finite(0.0, low_open=False),
              help="λ of the checked objective (default: the largest of the grid).")
@click.option("--threshold", default=1e-6, show_default=True, callback=finite(0.0, low_open=True),
              help="Largest relative error that passes.")
@format_options
def gradcheck(rows, lam, threshold, fmt, tablefmt, **options):
    """Compare the analytic gradient of J with central finite differences, layer by layer.

    Uses the configured network and data (first --rows training rows), in
    float64. Exit 1 when any relative error exceeds --threshold.
    """
    from .gradcheck import check_gradients

    cfg = experiment_config(**options)
    report = check_gradients(cfg, rows=rows, lam=lam)
    echo_table(report, fmt, tablefmt, floatfmt=".3g")
    worst = float(report["rel_error"].max())
    if worst > threshold:
        click.echo(f"l2cli: gradient check FAILED: worst relative error {worst:.3g} > {threshold:g}", err=True)
        sys.exit(1)
    click.echo(f"l2cli: gradient check passed: worst relative error {worst:.3g} ≤ {threshold:g}", err=True)


@cli.command()
@format_options
def datasets(fmt, tablefmt):
    """List the built-in datasets with their task, rows and features (synthetic ones as configured by default)."""
    from .config import DataConfig
    from .data import describe_builtins

    d = DataConfig()
    echo_table(describe_builtins(d.n_samples, d.n_features, d.n_classes), fmt, tablefmt)


def main() -> None:
    cli(prog_name="l2cli")
