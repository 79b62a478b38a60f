"""Configuration: precedence, validation, λ grids."""

import pytest

from l2cli.config import Config, coerce, parse_override, resolve
from l2cli.errors import InputError
from l2cli.vocabulary.grid import parse_grid


def test_precedence_defaults_file_set_flags(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text('[train]\nlr = 0.5\nepochs = 7\n[model]\nhidden = [3]\n')
    assert resolve().train.lr == Config().train.lr
    cfg = resolve(path)
    assert (cfg.train.lr, cfg.train.epochs, cfg.model.hidden) == (0.5, 7, [3])
    cfg = resolve(path, ["train.lr=0.25", "model.hidden=[4, 4]"])
    assert (cfg.train.lr, cfg.train.epochs, cfg.model.hidden) == (0.25, 7, [4, 4])
    cfg = resolve(path, ["train.lr=0.25"], {"train.lr": 0.125, "train.epochs": None})
    assert (cfg.train.lr, cfg.train.epochs) == (0.125, 7)


def test_set_values_are_toml_literals_and_bare_words_are_strings():
    assert parse_override("model.activation=tanh") == ("model.activation", "tanh")
    assert parse_override("train.lr=1e-3") == ("train.lr", 1e-3)
    assert parse_override("train.early_stopping=true") == ("train.early_stopping", True)
    assert parse_override('sweep.lambdas="0,logspace(-2,0,3)"')[1] == "0,logspace(-2,0,3)"
    with pytest.raises(InputError, match="section.key=value"):
        parse_override("lr")


@pytest.mark.parametrize("key,value,message", [
    ("train.lr", "fast", "expected a number"),
    ("train.lr", 0, "out of range"),
    ("train.epochs", 2.5, "expected an integer"),
    ("train.epochs", True, "expected an integer"),
    ("model.activation", "relo", "did you mean 'relu'"),
    ("model.hidden", [8, "x"], "list of integers"),
    ("data.test_size", 1.5, "out of range"),
    ("trian.lr", 1, "did you mean 'train'"),
    ("train.early_stop", True, "did you mean 'train.early_stopping'"),
])
def test_bad_values_name_the_key(key, value, message):
    with pytest.raises(InputError, match=message):
        coerce(key, value)


def test_cross_key_rules():
    with pytest.raises(InputError, match="validation split"):
        resolve(flags={"train.early_stopping": True, "data.val_size": 0.0})
    with pytest.raises(InputError, match="distinct"):
        resolve(flags={"sweep.seeds": [1, 1]})


@pytest.mark.parametrize("text,expected", [
    ("0,1e-4,1e-3", [0.0, 1e-4, 1e-3]),
    ("logspace(-2,0,3)", [0.01, 0.1, 1.0]),
    ("0, logspace(-2,0,3)", [0.0, 0.01, 0.1, 1.0]),
    ("1,0.5,1", [0.5, 1.0]),
    ("linspace(0,1,3)", [0.0, 0.5, 1.0]),
])
def test_grid_syntax(text, expected):
    assert parse_grid(text) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("text", ["", "1,,2", "logspace(1,2)", "exp(1)", "-0.1", "nan"])
def test_bad_grids(text):
    with pytest.raises(InputError):
        parse_grid(text)
