"""The command group and what every command shares: one-line usage errors, repeated options refused, output
formats and tables."""

from __future__ import annotations

import errno
import io
import math
import signal
import sys

import click

from .. import __version__
from ..errors import InputError, RunFailure, describe_os_error, is_system_fault
from ..vocabulary.choices import FORMATS

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
        stdout = sys.stdout
        try:
            sys.stdout = checked_stdout(stdout)
            result = super().invoke(ctx)
            sys.stdout.flush()  # what is still buffered is written, or the command fails here
            return result
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
            sys.stdout = stdout
            signal.signal(signal.SIGTERM, previous)


class Everything(io.RawIOBase):
    """The one write path of stdout: a write is whole or an OSError. A short write of the stream below (a file
    system that fills up mid-write: Python's text layer drops what did not fit and goes on) is continued, and
    the rest then raises the real cause (ENOSPC, EIO, EFBIG), which the command reports in one line."""

    def __init__(self, binary):
        self.binary = binary

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.binary.isatty()

    def fileno(self) -> int:
        return self.binary.fileno()

    def write(self, data) -> int:
        view, done = memoryview(data).cast("B"), 0
        try:
            while done < len(view):
                n = self.binary.write(view[done:])
                if not n:  # None (would block) or 0: nothing moves, which would loop forever
                    raise OSError(errno.EIO, "the output accepted no bytes")
                done += n
            self.binary.flush()
        except OSError as exc:
            exc.filename = exc.filename or "stdout"
            raise
        return done


def checked_stdout(stream):
    """``stream`` (sys.stdout) with every write checked (Everything), or itself when it has no binary layer."""
    binary = getattr(stream, "buffer", None)
    if binary is None or isinstance(binary, Everything):
        return stream
    return io.TextIOWrapper(Everything(binary), encoding=stream.encoding, errors=stream.errors,
                            line_buffering=stream.line_buffering, write_through=True)


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


def check_style(ctx, param, value: str) -> str:
    """--fmt must be one of tabulate's styles (imported only when another than the default is asked for)."""
    if value != "simple":
        from tabulate import tabulate_formats

        if value not in tabulate_formats:
            from ..config import suggest

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
    from ..rundir.formats import compact, render

    if view and fmt in ("table", "markdown"):
        frame = compact(frame, VIEW_COLUMNS[view], grid_keys)
    click.echo(render(frame, fmt, tablefmt, floatfmt), nl=False)


def main() -> None:
    cli(prog_name="l2cli")
