"""The commands that read run directories: show, best, runs, plot, predict; and gradcheck, datasets."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..vocabulary.choices import PANELS
from .app import CliError, cli, echo_table, finite, format_options
from .options import data_and_model_options, experiment_config, with_options


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
@click.option("--pivot", "pivot_key", metavar="KEY",
              help="A grid key × λ table of --metric (mean over seeds, averaged over the other grid keys).")
@click.option("--metric", help="The metric of --pivot: a column of aggregate.csv without _mean (default: test_loss; "
                               "val_loss, test_accuracy, weight_norm, …).")
@format_options
def show(run, what, pivot_key, metric, fmt, tablefmt):
    """Print a table of the run directory RUN (the summary unless asked otherwise)."""
    from ..rundir.run import Run

    if metric is not None and pivot_key is None:
        raise CliError("--metric goes with --pivot KEY")
    loaded = Run.load(run)
    if pivot_key is not None:
        echo_table(pivot_view(loaded, pivot_key, metric or "test_loss", what), fmt, tablefmt)
        return
    what = what or "summary"
    if what == "features":
        from ..rundir.formats import feature_matrix

        if loaded.features is None:
            raise CliError(f"{run} has no features.csv (it was written by an older l2cli)")
        echo_table(feature_matrix(loaded.features, loaded.grid_keys), fmt, tablefmt)
        return
    if what == "environment":
        import pandas as pd

        from ..machine.environment import flat

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
    if loaded.loss_units and what in ("summary", "history", "aggregate"):
        click.echo(f"l2cli: {loaded.loss_units}", err=True)


def pivot_view(run, key: str, metric: str, other: str | None):
    """show --pivot: the grid key × λ table, the key's values a first column and each λ a column λ=…."""
    from ..rundir.formats import pivot

    if other:
        raise CliError(f"--pivot is a view of its own: give it without --{other}")
    if key not in run.grid_keys:
        raise CliError(f"--pivot {key}: not a grid key of {run.path}; its grid keys: "
                       f"{', '.join(run.grid_keys) or 'none (it swept λ alone)'}")
    stems = [c.removesuffix("_mean") for c in run.aggregate.columns if c.endswith("_mean")]
    if metric not in stems:
        raise CliError(f"--metric {metric}: not a metric of {run.path}/aggregate.csv; choose from {', '.join(stems)}")
    table = pivot(run.aggregate, key, metric)
    table.columns = [f"λ={lam:g}" for lam in table.columns]
    return table.rename_axis(key).reset_index()


@cli.command()
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--all", "everything", is_flag=True, help="Also the selected grid cell: one key=value per line.")
def best(run, everything):
    """Print the λ selected by validation loss in RUN, and nothing else: lam=$(l2cli best RUN).

    Exit 2 when the run had no validation data; exit 1 when it had, but no λ
    had a finite validation loss without a diverged model.
    """
    from ..rundir.run import Run

    selection = Run.load(run).selection
    if selection.get("lambda") is None:
        message = f"{run}: no λ was selected ({selection.get('reason', 'no validation data')})"
        if selection.get("source"):  # there was validation data: a run failure, not a usage error
            click.echo(f"Error: {message}", err=True)
            sys.exit(1)
        raise CliError(message)
    lam = selection["lambda"]  # a finite number ≥ 0: checked when the run was read (l2cli.rundir.files)
    if not everything:
        click.echo(repr(float(lam)))
        return
    click.echo(f"lambda={float(lam)!r}")
    axes = selection.get("axes") or {}
    if not isinstance(axes, dict):
        raise CliError(f"{run}/selection.json: its axes are not a table of grid keys")
    for key, value in axes.items():
        from ..rundir.formats import printable

        click.echo(f"{printable(str(key))}={printable(str(value))}")


@cli.command()
@click.argument("directory", required=False, default="runs", type=click.Path(file_okay=False))
@format_options
def runs(directory, fmt, tablefmt):
    """List the runs in DIRECTORY (default: runs/) from their manifests."""
    import pandas as pd

    from ..rundir.run import Run

    listed = Run.list(directory, log=lambda line: click.echo(line, err=True))
    rows = [{"run": r.path.name, "dataset": r.manifest.get("data", {}).get("name"),
             "lambdas": len(r.manifest.get("config", {}).get("sweep", {}).get("lambdas", [])),
             "seeds": len(r.manifest.get("config", {}).get("sweep", {}).get("seeds", [])),
             "models": r.manifest.get("models"), "selected_lambda": r.selection.get("lambda"),
             "started": r.manifest.get("started")} for r in listed]
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
    from ..rundir.run import Run

    try:
        from ..plot.figure import plot_run
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

    from ..rundir.run import Run
    from ..tools.reload import predict_file

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
    from ..tools.gradcheck import check_gradients

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
    from ..config import DataConfig
    from ..data.builtin import describe_builtins

    d = DataConfig()
    echo_table(describe_builtins(d.n_samples, d.n_features, d.n_classes), fmt, tablefmt)
