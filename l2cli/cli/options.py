"""The options that set config keys, each declared from its key (help, default), and the config they make."""

from __future__ import annotations

import json

import click

from ..config import parse_list, resolve
from ..errors import InputError

LAMBDAS_HELP = ("λ grid: a list '0,1e-4,1e-3', a log grid 'logspace(-6,0,13)' "
                "(10^-6 … 10^0, 13 values), or both: '0,logspace(-6,0,13)'. Quote it in the shell.")


#: Every flag that sets a config key: its parameter name -> the key. keyed() fills it, the one place a flag
#: names its key; experiment_config reads it, so a declared flag cannot miss its key.
KEYED: dict[str, str] = {}


def keyed(flag: str, dotted: str, dest: str | None = None, help: str | None = None, **kw):
    """A flag that sets the config key ``dotted``: its help (the key's own unless given), its choices and its
    default come from the key's declaration (l2cli.config), so they cannot disagree."""

    from ..config import Choice, declaration, default_of

    KEYED[dest or flag.lstrip("-").replace("-", "_")] = dotted

    field = declaration(dotted)
    kind = field.metadata["kind"]
    default = default_of(field)
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
              help="Table to use instead of a built-in dataset: CSV (.csv, .tsv, also .gz, .bz2, .xz), JSON Lines "
                   "(.jsonl, .ndjson, also compressed), Excel (.xlsx: pip install 'l2cli[excel]') or Parquet "
                   "(.parquet: pip install 'l2cli[parquet]')"),
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


def experiment_config(config, overrides, grid=(), more=None, **options):
    """The config from a file, --set and the dedicated flags (later wins): each flag's value goes to the key
    keyed() declared it for; a comma-separated list where the key holds a list."""
    from ..config import TABLE_FILE_KEYS

    given = {name: options[name] for name in KEYED if options.get(name) not in (None, ())}
    file_only = [name for name in given if KEYED[name] in TABLE_FILE_KEYS]
    if options.get("data_path") is None and file_only:
        raise InputError(f"--{file_only[0]} applies to a table file: give one with --data FILE")
    flags = {KEYED[name]: flag_value(name, KEYED[name], value) for name, value in given.items()}
    return resolve(config, overrides, {**flags, **(more or {})}, grid)


def flag_value(name: str, key: str, value):
    """A flag's value as its key takes it: repeated values as a list, and '0,1,2' as [0, 1, 2] where the key
    holds a list of integers ('age,island' where it holds names)."""
    from ..config import declaration
    from ..vocabulary.kinds import Ints, Texts

    kind = declaration(key).metadata["kind"]
    if isinstance(value, tuple):
        return list(value)
    if isinstance(kind, (Ints, Texts)) and isinstance(value, str):
        example = kind.example.strip("[]").replace(" ", "") if isinstance(kind, Ints) else "age,island"
        return parse_list(value, f"--{name.replace('_', '-')}", example, int if isinstance(kind, Ints) else str)
    return value
