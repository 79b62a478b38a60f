"""verify --level conclusions compares pairs: each replayed seed with its own recorded seed, the means by a
paired t-test with Holm's correction over the family, one seed by a stated tolerance. The recorded run is
edited as a hostile or unlucky change would; its unedited twin stands for the replay (l2cli.tools.conclusions is
what verify calls after the replay)."""

import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import invoke

from l2cli.rundir.run import Run
from l2cli.tools.conclusions import ONE_SEED_RTOL, compare, holm

SWEEP = ["--dataset", "wine", "--hidden", "8", "--epochs", "60", "--optimizer", "sgd", "--batch-size", "32",
         "--lr", "0.05", "--lambdas", "1e-4,1e-3,1e-2,1e-1", "--set", "sweep.curvature=off", "-q"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A five-seed and a one-seed run."""
    base = tmp_path_factory.mktemp("conclusions")
    made = {}
    for seeds in ("0,1,2,3,4", "0"):
        out = base / f"seeds-{seeds.count(',') + 1}"
        assert invoke("sweep", *SWEEP, "--seeds", seeds, "--out", out).exit_code == 0
        made[seeds.count(",") + 1] = out
    return made


def edited(run, tmp_path, change) -> Run:
    copy = shutil.copytree(run, tmp_path / "edited")
    summary = pd.read_csv(copy / "summary.csv")
    change(summary)
    summary.to_csv(copy / "summary.csv", index=False)
    return Run.load(copy)


def failures(recorded: Run, replay_dir) -> pd.DataFrame:
    checks = compare(recorded, Run.load(replay_dir))
    return checks[checks["verdict"] == "fail"]


def test_an_unchanged_replay_passes_every_check(runs):
    for path in runs.values():
        checks = compare(Run.load(path), Run.load(path))
        assert (checks["verdict"] == "pass").all(), checks


@pytest.mark.parametrize("factor", [2, 10, 1000])
def test_one_seed_of_five_scaled_at_one_lambda_fails_naming_the_lambda_seed_and_metric(runs, tmp_path, factor):
    def change(summary):
        summary.loc[(summary["lambda"] == 1e-3) & (summary["seed"] == 3), "test_loss"] *= factor

    bad = failures(edited(runs[5], tmp_path, change), runs[5])
    assert len(bad) >= 1
    named = bad[bad["check"] == "test_loss per seed"]
    assert len(named) == 1 and named.iloc[0]["lambda"] == 1e-3 and named.iloc[0]["seed"] == 3
    assert "seed 3:" in named.iloc[0]["reason"] and set(bad["lambda"]) == {1e-3}


def test_a_seed_moved_within_the_seeds_own_spread_is_not_a_changed_conclusion(runs, tmp_path):
    """The level's stated limit: a move smaller than SEED_SPREADS of the spread between seeds is what another
    machine may do; --level numbers is the check that sees it."""
    summary = pd.read_csv(runs[5] / "summary.csv")
    at = summary["lambda"] == 1e-3
    spread = summary.loc[at, "test_loss"].std(ddof=1)

    def change(s):
        s.loc[at & (s["seed"] == 3), "test_loss"] += spread

    assert failures(edited(runs[5], tmp_path, change), runs[5]).empty


def test_every_seeds_test_loss_up_20_percent_at_one_lambda_fails_by_the_paired_mean(runs, tmp_path):
    def change(summary):
        summary.loc[summary["lambda"] == 1e-2, "test_loss"] *= 1.2

    bad = failures(edited(runs[5], tmp_path, change), runs[5])
    mean = bad[bad["check"] == "test_loss mean"]
    assert len(mean) == 1 and mean.iloc[0]["lambda"] == 1e-2 and "Holm-adjusted p" in mean.iloc[0]["reason"]


def test_differences_within_the_numbers_tolerance_are_none_even_when_all_of_one_sign(runs, tmp_path):
    def change(summary):  # a systematic 1e-9 relative shift: a t-test alone would call it significant
        summary["test_loss"] *= 1 + 1e-9

    assert failures(edited(runs[5], tmp_path, change), runs[5]).empty


def test_a_one_seed_run_has_a_finite_tolerance_not_a_t_test(runs, tmp_path):
    def small(summary):
        summary["test_loss"] *= 1 + ONE_SEED_RTOL / 2

    def large(summary):
        summary.loc[summary["lambda"] == 1e-1, "test_loss"] *= 2

    assert failures(edited(runs[1], tmp_path / "a", small), runs[1]).empty
    bad = failures(edited(runs[1], tmp_path / "b", large), runs[1])
    assert len(bad) == 1 and bad.iloc[0]["check"] == "test_loss" and bad.iloc[0]["lambda"] == 1e-1
    assert "one-seed tolerance" in bad.iloc[0]["reason"]


def test_a_moved_choice_fails(runs, tmp_path):
    import json

    copy = shutil.copytree(runs[5], tmp_path / "chosen")
    selection = json.loads((copy / "selection.json").read_text())
    others = [lam for lam in (1e-4, 1e-3, 1e-2, 1e-1) if lam != selection["lambda"]
              and lam not in selection["within_1se"]]
    selection["lambda"] = others[0]
    (copy / "selection.json").write_text(json.dumps(selection))
    bad = failures(Run.load(copy), runs[5])
    assert list(bad["check"]) == ["selected λ"] and "one-standard-error set" in bad.iloc[0]["reason"]


def test_holm_adjusts_as_the_textbook_example():
    # Holm (1979) step-down: sorted p·(m − rank), made monotone
    p = [0.01, 0.04, 0.03, 0.005]
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert np.all(np.array(holm(p)) >= np.array(p))
