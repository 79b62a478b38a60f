"""The experiment configuration: one schema, validated wherever a config is made or changed.

An experiment has five sections (data, model, train, sweep, output) and an
optional grid of extra sweep axes. Every key is declared once, in schema.py, with its
default, its kind (the values it allows) and a one-line help; the checks, the
error messages and the typo suggestions all come from that declaration.
Assigning a key, in ``__init__`` or later (``cfg.train.lr = -5``), checks the
value and raises :class:`~l2cli.errors.InputError` naming the key; the rules
that involve several keys are checked when a Config is built and by
:meth:`Config.validate`, which every run calls before training.

Values are resolved in this order, later winning: built-in defaults < the
TOML file < ``--set section.key=value`` < dedicated command-line flags.

    schema.py    the sections and their keys, Config
    rules.py     the rules between keys
    sources.py   a TOML file, --set and flags resolved into a Config

A leaf package: it imports only the standard library and other leaf modules.
"""

from ..vocabulary.kinds import Choice, suggest
from .rules import check_train_rules
from .schema import (
    GRID_SECTIONS,
    MAX_SEED,
    SECTIONS,
    TABLE_FILE_KEYS,
    Config,
    DataConfig,
    ModelConfig,
    OutputConfig,
    SweepConfig,
    TrainConfig,
    all_keys,
    coerce,
    declaration,
    default_of,
    result_keys,
    split_key,
)
from .sources import load_toml, parse_grid_option, parse_list, parse_override, resolve

__all__ = ["GRID_SECTIONS", "MAX_SEED", "SECTIONS", "TABLE_FILE_KEYS", "Choice",
           "Config", "DataConfig", "ModelConfig", "OutputConfig", "SweepConfig", "TrainConfig", "all_keys",
           "check_train_rules", "coerce", "declaration", "default_of", "load_toml", "parse_grid_option", "parse_list",
           "parse_override", "resolve", "result_keys", "split_key", "suggest"]
