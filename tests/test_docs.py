"""The README documents every config key, command and output file that exists."""

from pathlib import Path

from l2cli.cli import cli
from l2cli.config import all_keys

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_config_key_is_documented():
    missing = [k for k in all_keys() if f"`{k}`" not in README and f"`{k}`," not in README
               and k.split(".")[1] not in ("beta1", "beta2", "eps")]
    assert not missing, missing
    assert "`train.beta1`, `train.beta2`, `train.eps`" in README


def test_every_command_and_output_file_is_documented():
    for name in cli.commands:
        assert f"l2cli {name}" in README, name
    for file in ("summary.csv", "history.csv", "aggregate.csv", "features.csv", "selection.json", "manifest.json",
                 "weights.npz", "cv.csv"):
        assert f"**{file}**" in README, file
