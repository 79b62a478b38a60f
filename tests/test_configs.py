"""The curated experiments in configs/ are valid, run, and show a λ chosen strictly inside their grid.

Running them takes about 20 s, so that test is marked slow (make test-all, CI); the default suite
checks that each one resolves and passes every validation rule.
"""

from pathlib import Path

import numpy as np
import pytest

from l2cli.config import resolve
from l2cli.sweeps.runner import run_experiment

CONFIGS = sorted(Path(__file__).resolve().parents[1].joinpath("configs").glob("*.toml"))


def test_the_curated_set_is_there():
    assert {p.stem for p in CONFIGS} >= {"default", "breast_cancer", "diabetes", "curve", "digits_adam"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_is_valid(path):
    cfg = resolve(path)
    cfg.validate()
    assert len(cfg.sweep.lambdas) >= 3 and cfg.data.val_size + cfg.sweep.cv > 0  # room to select inside the grid


_RUNS = {}


def run_of(path):
    """The run of a curated config, trained once per session."""
    if path not in _RUNS:
        _RUNS[path] = run_experiment(resolve(path))
    return _RUNS[path]


@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_runs_and_selects_inside_the_grid(path):
    run = run_of(path)
    assert (run.summary["status"] != "diverged").all()
    lambdas = sorted(run.summary["lambda"].unique())
    chosen = run.selection["lambda"]
    assert lambdas[0] < chosen < lambdas[-1], f"{path.stem}: selected λ = {chosen} at the edge of the grid"
    agg = run.aggregate.sort_values("lambda")
    # weights shrink as λ grows, over the whole grid
    assert agg["weight_norm_mean"].iloc[0] > agg["weight_norm_mean"].iloc[-1]
    assert np.isfinite(agg["test_loss_mean"]).all()


@pytest.mark.slow
def test_the_decay_config_shows_where_coupled_l2_and_decoupled_decay_part():
    """configs/decay.toml, as the README tells it: under Adam, the coupled penalty is rescaled per parameter and
    collapses the network from λ ≈ 0.3 on, while decoupled decay shrinks every weight by 1 − 2ηλ per step, needs
    a far larger λ for the same effect, and lowers the norm smoothly; both reach a similar best validation loss."""
    agg = run_of(Path(__file__).resolve().parents[1] / "configs" / "decay.toml").aggregate
    l2, dec = (agg[agg["train.decay"] == d].set_index("lambda").sort_index() for d in ("l2", "decoupled"))
    assert (dec["weight_norm_mean"] > l2["weight_norm_mean"]).all()
    assert (l2.loc[l2.index >= 0.3, "weight_norm_mean"] < 0.01).all()
    assert (dec["weight_norm_mean"] > 1).all()
    best = {name: t["val_loss_mean"].idxmin() for name, t in (("l2", l2), ("decoupled", dec))}
    assert best["decoupled"] >= 30 * best["l2"]
    assert abs(l2["val_loss_mean"].min() - dec["val_loss_mean"].min()) < 0.05


ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_weight_decay_closes_the_gap_of_d2ls_figure():
    """configs/weight-decay.toml: at λ = 0 the 200-input linear model interpolates its 20 rows (train loss below 1 %
    of the test loss); at the λ the validation rows choose, the test loss is at most half of λ = 0's."""
    run = run_of(ROOT / "configs" / "weight-decay.toml")
    agg = run.aggregate.set_index("lambda")
    assert agg.loc[0.0, "train_loss_mean"] < 0.01 * agg.loc[0.0, "test_loss_mean"]
    assert agg.loc[run.selection["lambda"], "test_loss_mean"] <= 0.5 * agg.loc[0.0, "test_loss_mean"]


@pytest.mark.slow
def test_optimal_ridge_mitigates_double_descent():
    """configs/double-descent.toml (Nakkiran et al. 2021, Fig. 1), over the five data draws: with λ ≈ 0 the risk
    at n = d is over 3× that at n = d/2 and n = 2d; the best λ's risk does not increase with n beyond the 95 %
    band of the difference over the draws; the best λ is one grid point for every n, within one step."""
    from l2cli.rundir.formats import pivot

    run = run_of(ROOT / "configs" / "double-descent.toml")
    agg = run.aggregate
    draws = [pivot(agg[agg["data.seed"] == s], "data.n_train", "test_loss") for s in range(5)]
    risk = np.stack([d.to_numpy(float) for d in draws])  # (draw, n, λ)
    n, lambdas = list(draws[0].index), list(draws[0].columns)
    mean = risk.mean(axis=0)
    tiny = lambdas.index(1e-4)
    assert mean[n.index(50), tiny] > 3 * mean[n.index(25), tiny]
    assert mean[n.index(50), tiny] > 3 * mean[n.index(100), tiny]
    best = mean.argmin(axis=1)
    assert best.max() - best.min() <= 1, [lambdas[b] for b in best]
    at_best = risk[:, np.arange(len(n)), best]  # (draw, n): each draw at the mean's best λ of each n
    rises = np.diff(at_best, axis=1)  # per draw, the change from one n to the next
    band = 2.776 * rises.std(axis=0, ddof=1) / np.sqrt(5)  # t(0.975, 4): the 95 % half-width of the mean change
    assert (rises.mean(axis=0) <= band).all(), rises.mean(axis=0)


@pytest.mark.slow
def test_under_adam_the_best_coupled_lambda_stays_and_unscaled_decay_moves_with_the_learning_rate():
    """configs/decay-heatmap.toml: the best λ (by validation) of each learning rate. Coupled L2 under Adam: the
    same grid point within one step at η = 0.001, 0.01, 0.1. Independent decay: it grows with η, a fitted slope of
    log λ* on log η between 0.5 and 1.5; read as AdamW's decay λ'/(2η), it stays within one grid step."""
    from l2cli.rundir.formats import pivot

    run = run_of(ROOT / "configs" / "decay-heatmap.toml")
    agg = run.aggregate
    step = np.log10(3.1622776601683795)  # the grid's step: 12 points over 5.5 decades, half a decade
    best = {}
    for decay in ("l2", "independent"):
        table = pivot(agg[agg["train.decay"] == decay], "train.lr", "val_loss")
        best[decay] = {lr: table.loc[lr].idxmin() for lr in table.index}
    l2 = np.log10(list(best["l2"].values()))
    assert l2.max() - l2.min() <= step + 1e-9, best["l2"]
    lrs = np.array(sorted(best["independent"]))
    lam = np.array([best["independent"][lr] for lr in lrs])
    slope = np.polyfit(np.log10(lrs), np.log10(lam), 1)[0]
    assert 0.5 <= slope <= 1.5, (slope, best["independent"])
    adamw = np.log10(lam / (2 * lrs))
    assert adamw.max() - adamw.min() <= step + 1e-9, lam / (2 * lrs)


@pytest.mark.slow
def test_weight_decay_makes_the_network_grok_modular_addition():
    """configs/grokking.toml, from history.csv (train.history_metrics): with λ = 0.5 each seed's test accuracy
    reaches 0.95, with λ = 0 it stays below 0.5; the training accuracy reaches 1 first, at an epoch where the test
    accuracy is still below 0.2, and the test accuracy passes 0.5 only later."""
    run = run_of(ROOT / "configs" / "grokking.toml")
    history = run.history
    for (lam, seed), h in history.groupby(["lambda", "seed"]):
        h = h.sort_values("epoch")
        if lam == 0.0:
            assert h["test_accuracy"].max() < 0.5, seed
        elif lam == 0.5:
            fitted = h.loc[h["train_accuracy"] == 1.0, "epoch"].min()
            risen = h.loc[h["test_accuracy"] >= 0.5, "epoch"].min()
            assert h["test_accuracy"].max() >= 0.95, seed
            assert h.loc[h["epoch"] == fitted, "test_accuracy"].iloc[0] < 0.2 and fitted < risen, (fitted, risen)


@pytest.mark.slow
def test_the_evidence_chooses_lambda_and_ranks_architectures():
    """configs/evidence.toml (MacKay 1992): per architecture, the log evidence peaks strictly inside the λ grid
    and γ falls with λ; across architectures, a higher largest evidence goes with a lower test loss at its λ
    (Spearman ≤ −0.5), the smallest network is last on both, and the highest evidence's test loss is within 10 %
    of the grid's best."""
    from scipy.stats import spearmanr

    run = run_of(ROOT / "configs" / "evidence.toml")
    agg = run.aggregate
    best = []
    for _, rows in agg.groupby("model.hidden", sort=False):
        rows = rows.sort_values("lambda").dropna(subset=["log_evidence_mean"])
        ev = rows["log_evidence_mean"].to_numpy()
        k = int(ev.argmax())
        assert 0 < k < len(ev) - 1, rows["lambda"].tolist()
        assert rows["effective_params_mean"].iloc[-1] < rows["effective_params_mean"].iloc[0]
        best.append((rows["model.hidden"].iloc[0], ev[k], rows["test_loss_mean"].iloc[k]))
    names, evidence, test = zip(*best, strict=True)
    assert spearmanr(evidence, test).statistic <= -0.5, best
    smallest = names.index("[1]")
    assert evidence[smallest] == min(evidence) and test[smallest] == max(test)
    assert test[int(np.argmax(evidence))] <= 1.1 * agg["test_loss_mean"].min()
