"""The ``l2cli`` command line: parses options, calls the library, formats output.

Exit codes: 0 success; 1 run failure (a model diverged, or an internal error);
2 usage or input error, reported on one line.
"""

from __future__ import annotations

import sys

import click

from . import __version__
from .config import parse_int_list, resolve
from .data import BUILTINS, describe_builtins
from .errors import InputError
from .formats import FORMATS, render
from .runner import run_experiment

SUMMARY_COLUMNS = ("lambda", "seed", "status", "epochs", "train_loss", "test_loss", "val_loss",
                   "penalty", "weight_norm", "train_accuracy", "test_accuracy", "train_r2", "test_r2")


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
    pass


class Group(OneLineUsage, click.Group):
    command_class = Command

    def resolve_command(self, ctx, args):
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            raise CliError(f"{exc.format_message()} (see '{ctx.command_path} --help')") from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="l2cli")
def cli():
    """See what L2 regularization does: sweep λ over a NumPy MLP, write loss and weight-norm tables."""


LAMBDAS_HELP = ("λ grid: a list '0,1e-4,1e-3', a log grid 'logspace(-6,0,13)' "
                "(10^-6 … 10^0, 13 values), or both: '0,logspace(-6,0,13)'")


@cli.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--dataset", help="Built-in dataset (see 'l2cli datasets').")
@click.option("--data", "data_path", type=click.Path(dir_okay=False), help="CSV file to use instead.")
@click.option("--target", help="Target column of the CSV file.")
@click.option("--task", type=click.Choice(["auto", "classification", "regression"]), help="Override the inferred task.")
@click.option("--lambdas", help=LAMBDAS_HELP)
@click.option("--seeds", help="Model seeds, e.g. '0,1,2'.")
@click.option("--hidden", help="Hidden widths, e.g. '64,64'; '' for none (linear/logistic model).")
@click.option("--activation", type=click.Choice(["relu", "tanh", "sigmoid", "identity"]))
@click.option("--optimizer", type=click.Choice(["gd", "sgd", "momentum", "adam"]))
@click.option("--lr", type=float, help="Learning rate.")
@click.option("--epochs", type=int, help="Maximum epochs.")
@click.option("--batch-size", type=int, help="Mini-batch size; 0 for full batch.")
@click.option("--dtype", type=click.Choice(["float64", "float32"]))
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (must not exist or be empty).")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Set any config key; the value is a TOML literal. Repeatable.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="What to print on stdout.")
@click.option("--fmt", "tablefmt", default="simple", show_default=True, help="tabulate style for --format table.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or log lines on stderr.")
def sweep(config, dataset, data_path, target, task, lambdas, seeds, hidden, activation, optimizer,
          lr, epochs, batch_size, dtype, out, overrides, fmt, tablefmt, quiet):
    """Train one model per (λ, seed) and write summary.csv, history.csv, manifest.json, weights.npz.

    CONFIG is a TOML experiment file; without one the default experiment
    (configs/default.toml) runs. Precedence: defaults < CONFIG < --set < flags.
    """
    try:
        flags = {
            "data.dataset": dataset, "data.path": data_path, "data.target": target, "data.task": task,
            "sweep.lambdas": lambdas,
            "sweep.seeds": None if seeds is None else parse_int_list(seeds, "--seeds"),
            "model.hidden": None if hidden is None else parse_int_list(hidden, "--hidden"),
            "model.activation": activation, "train.optimizer": optimizer, "train.lr": lr,
            "train.epochs": epochs, "train.batch_size": batch_size, "train.dtype": dtype,
            "output.dir": out,
        }
        cfg = resolve(config, overrides, flags)
        n_points = len(cfg.sweep.lambdas) * len(cfg.sweep.seeds)
        show_bar = not quiet and sys.stderr.isatty()
        with click.progressbar(length=n_points * cfg.train.epochs, label="training", file=sys.stderr,
                               hidden=not show_bar) as bar:
            run = run_experiment(cfg, argv=["l2cli", *sys.argv[1:]], progress=bar.update,
                                 log=None if quiet else lambda line: click.echo(line, err=True))
    except InputError as exc:
        raise CliError(str(exc)) from None
    columns = [c for c in SUMMARY_COLUMNS if c in run.result.summary.columns]
    click.echo(render(run.result.summary[columns], fmt, tablefmt), nl=False)
    if not quiet:
        click.echo(f"l2cli: wrote {run.path} in {run.seconds:.1f} s", err=True)
    if run.failed:
        n_bad = int((run.result.summary["status"] == "diverged").sum())
        click.echo(f"l2cli: {n_bad} model(s) diverged (NaN/inf); lower --lr or check the data", err=True)
        sys.exit(1)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def datasets(fmt):
    """List the built-in datasets with their task, rows and features."""
    click.echo(render(describe_builtins(), fmt), nl=False)


def main() -> None:
    cli(prog_name="l2cli")
