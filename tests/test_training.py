"""Training: closed-form ridge, stacked = sequential, stopping rules, NaN handling, sklearn agreement."""

import numpy as np
import pandas as pd
import pytest
from conftest import make_spec, reference_torch, schedule, sweep

from l2cli.config import resolve
from l2cli.data.builtin import load_builtin, split_dataset
from l2cli.executors import train_chunk
from l2cli.maths.network import init_params
from l2cli.sweeps.engine import run_points
from l2cli.sweeps.experiment import compute, prepare
from l2cli.training.plan import points
from l2cli.training.train import Arrays, init_rng, train


def ridge(X, y, lam):
    """argmin (1/n)‖y - Xw - b‖² + λ‖w‖², b unpenalized: w = (XcᵀXc + nλI)⁻¹ Xcᵀ yc."""
    n, d = X.shape
    Xc, yc = X - X.mean(0), y - y.mean()
    w = np.linalg.solve(Xc.T @ Xc + n * lam * np.eye(d), Xc.T @ yc)
    return w, y.mean() - X.mean(0) @ w


@pytest.mark.slow  # 20,000 gd epochs, about 1.9 s (the curvature tests hold ridge too)
def test_linear_model_converges_to_closed_form_ridge():
    split = split_dataset(load_builtin("diabetes"), test_size=0.5, val_size=0.0, seed=0)
    lams = np.array([0.0, 1e-3, 1e-1, 1.0])
    params = init_params((10, 1), [init_rng(s) for s in range(4)], "glorot")
    data = Arrays(split.X_train, split.Y_train, split.X_test, split.Y_test)
    plan = schedule(optimizer="gd", lr=0.15, epochs=20000, history_every=0)  # η < 2/λ_max(∇²J) ≈ 0.19
    result = train(params, lams, range(4), data, make_spec("identity", "squared", "mean"), plan)
    assert result.status == ["completed"] * 4
    for m, lam in enumerate(lams):
        w, b = ridge(split.X_train, split.Y_train[:, 0], lam)
        np.testing.assert_allclose(result.params.W[0][m, :, 0], w, rtol=1e-6, atol=0)
        np.testing.assert_allclose(result.params.b[0][m, 0], b, atol=1e-9)


def small_config(**flags):
    base = {"data.dataset": "moons", "data.n_samples": 120, "model.hidden": [16, 16],
            "train.optimizer": "sgd", "train.lr": 0.1, "train.batch_size": 16, "train.epochs": 15,
            "train.history_every": 1, "sweep.lambdas": "0,logspace(-4,0,5)", "sweep.seeds": [0, 1, 2]}
    base.update(flags)
    return resolve(flags=base)


@pytest.mark.parametrize("optimizer,decay", [("sgd", "l2"), ("momentum", "l2"), ("adam", "l2"), ("gd", "l2"),
                                             ("momentum", "decoupled"), ("adam", "decoupled")])
def test_stacked_equals_one_at_a_time(optimizer, decay):
    _, stacked = sweep(small_config(**{"train.optimizer": optimizer, "train.decay": decay, "sweep.workers": 1}))
    _, sequential = sweep(small_config(**{"train.optimizer": optimizer, "train.decay": decay,
                                          "sweep.engine": "sequential", "sweep.workers": 1}))
    assert (stacked.layout.chunk_size, stacked.layout.workers) == (18, 1) and sequential.layout.chunk_size == 1
    for a, b in zip(stacked.params.arrays(), sequential.params.arrays(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    numeric = stacked.summary.select_dtypes("number").columns
    np.testing.assert_allclose(stacked.summary[numeric], sequential.summary[numeric], rtol=1e-10)
    np.testing.assert_allclose(stacked.history.to_numpy(float), sequential.history.to_numpy(float),
                               rtol=1e-10, equal_nan=True)


@pytest.mark.parametrize("flags", [{"sweep.chunk_size": 4, "sweep.workers": 1},
                                   {"sweep.chunk_size": 5, "sweep.workers": 2},
                                   {"sweep.workers": 2},
                                   {"sweep.chunk_size": 5, "sweep.workers": 2, "train.optimizer": "adam",
                                    "train.decay": "decoupled"}])
def test_chunks_and_worker_processes_do_not_change_the_numbers(flags):
    rule = {k: v for k, v in flags.items() if k.startswith("train.")}
    _, whole = sweep(small_config(**{**rule, "sweep.workers": 1}))
    assert whole.layout.chunk_size == 18
    done = []
    cfg = small_config(**flags)
    exp = prepare(cfg)
    chunked = run_points(exp, points(cfg.sweep.lambdas, cfg.sweep.seeds), compute(cfg), progress=done.append)
    assert chunked.layout.chunk_size == flags.get("sweep.chunk_size", 9)
    assert chunked.layout.workers == flags["sweep.workers"]
    assert sum(done) == 18 * exp.schedule.epochs  # every model-epoch reported once, wherever it ran
    for a, b in zip(whole.params.arrays(), chunked.params.arrays(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    pd.testing.assert_frame_equal(whole.history, chunked.history, rtol=1e-10)
    pd.testing.assert_frame_equal(whole.summary, chunked.summary, rtol=1e-10)


def _train_chunk_noting_the_process(exp, chunk, on_epoch=None, checkpoint=None):
    """executors.train_chunk, with the process and its BLAS thread counts added to the summary rows."""
    import os

    from threadpoolctl import threadpool_info

    result = train_chunk(exp, chunk, on_epoch, checkpoint)  # the original, imported above
    result.summary["pid"] = os.getpid()
    result.summary["blas_threads"] = str(sorted({i["num_threads"] for i in threadpool_info()
                                                 if i["user_api"] == "blas"}))
    return result


def test_every_process_of_a_sweep_trains_on_the_blas_threads_of_the_layout(monkeypatch):
    """The thread count is set once before the fork, and the workers train on it too."""
    import l2cli.executors.local as executors

    monkeypatch.setattr(executors, "train_chunk", _train_chunk_noting_the_process)
    _, result = sweep(small_config(**{"sweep.workers": 2, "sweep.chunk_size": 6, "sweep.threads": 1}))
    assert (result.layout.workers, result.layout.threads) == (2, 1)
    assert result.summary["pid"].nunique() == 2  # this process and one worker
    assert set(result.summary["blas_threads"]) == {"[1]"}


def test_a_point_is_addressable_on_its_own():
    """Training one (λ, seed) point alone reproduces its row of the full sweep."""
    exp, full = sweep(small_config())
    point = full.points[7]
    alone = run_points(exp, [point])
    row = full.summary.iloc[7]
    assert (row["lambda"], row["seed"]) == (point.lam, point.seed)
    np.testing.assert_allclose(alone.summary.iloc[0]["test_loss"], row["test_loss"], rtol=1e-12)


def test_seeds_change_init_and_batch_order_but_lambda_does_not():
    _, r = sweep(small_config(**{"train.epochs": 1, "sweep.lambdas": "0,1e-2"}))
    h = r.history
    start = h[h.epoch == 0].set_index(["lambda", "seed"])["weight_norm"]
    assert start[(0.0, 0)] == start[(0.01, 0)]  # same seed, same initial weights
    assert start[(0.0, 0)] != start[(0.0, 1)]


def test_divergence_is_reported_not_hidden():
    _, r = sweep(small_config(**{"data.dataset": "regression", "train.lr": 10.0,
                                 "sweep.lambdas": "0,1e-3", "sweep.seeds": [0]}))
    from l2cli.training.stopping import GROWTH_BOUND

    assert list(r.summary["status"]) == ["diverged", "diverged"]
    assert (r.summary["epochs"] < 15).all()
    J = r.history.groupby("lambda")["objective"]
    J0, J_stop = J.first().to_numpy(), J.last().to_numpy()  # epoch 0, and the epoch each model stopped
    assert np.all(~np.isfinite(J_stop) | (J_stop > GROWTH_BOUND * J0))
    assert list(r.history.groupby("lambda")["epoch"].max()) == list(r.summary["epochs"])


def test_a_finite_but_runaway_objective_is_diverged_and_never_selected(tmp_path):
    """--lr 1e6: J grows to ~1e5 with weights of norm ~1e107, every number finite; it is not 'completed'."""
    from click.testing import CliRunner

    from l2cli.cli import cli

    out = tmp_path / "runaway"
    result = CliRunner().invoke(cli, ["sweep", "--optimizer", "sgd", "--lr", "1e6", "--epochs", "30", "--lambdas",
                                      "0", "--seeds", "0", "--out", str(out)])
    summary = pd.read_csv(out / "summary.csv")
    assert result.exit_code == 1 and summary["status"].tolist() == ["diverged"]
    assert np.isfinite(summary["train_loss"]).all() and summary["train_loss"].iloc[0] > 1e3
    assert pd.read_json(out / "selection.json", typ="series")["lambda"] is None


def test_tol_stops_converged_models_early():
    cfg = small_config(**{"train.optimizer": "gd", "train.epochs": 3000, "train.tol": 1e-7,
                          "model.hidden": [], "sweep.lambdas": "0.1,1", "sweep.seeds": [0]})
    _, r = sweep(cfg)
    assert list(r.summary["status"]) == ["converged", "converged"]
    assert (r.summary["epochs"] < 3000).all()
    last = r.history.groupby("lambda")["epoch"].max()
    assert list(last) == list(r.summary["epochs"])


def test_early_stopping_keeps_the_best_validation_epoch():
    cfg = small_config(**{"data.val_size": 0.25, "train.early_stopping": True, "train.patience": 3,
                          "train.epochs": 300, "train.lr": 0.5, "sweep.lambdas": "0", "sweep.seeds": [0]})
    _, r = sweep(cfg)
    row = r.summary.iloc[0]
    h = r.history
    assert row["status"] == "early_stopped"
    best = h.loc[h["val_loss"].idxmin()]
    assert row["epochs"] == best["epoch"]
    assert row["val_loss"] == pytest.approx(best["val_loss"], rel=1e-12)
    assert h["epoch"].max() == row["epochs"] + 3


def test_float32_trains_in_float32_and_agrees_roughly():
    _, r64 = sweep(small_config())
    _, r32 = sweep(small_config(**{"train.dtype": "float32"}))
    assert r32.params.W[0].dtype == np.float32
    np.testing.assert_allclose(r32.summary["test_loss"], r64.summary["test_loss"], rtol=2e-2)


@pytest.mark.parametrize("dataset,activation,loss", [
    ("iris", "tanh", "cross_entropy"),  # three classes: softmax, mean log-loss
    ("breast_cancer", "relu", "logistic"),  # two classes: sklearn's network has one logistic output
])
def test_one_gd_step_matches_scikit_learn_with_alpha_2nlambda(dataset, activation, loss):
    """sklearn's MLPClassifier (mean log-loss + alpha/(2n)·‖W‖²) takes the same step as λ = alpha/(2n)."""
    from sklearn.neural_network import MLPClassifier

    split = split_dataset(load_builtin(dataset), test_size=0.5, val_size=0.0, seed=0)
    if loss == "logistic":
        split = split.with_logistic_target()
    n, lam, lr = split.X_train.shape[0], 0.05, 0.1
    params = init_params((split.n_features, 8, split.n_outputs), [init_rng(0)], "glorot")
    clf = MLPClassifier(hidden_layer_sizes=(8,), activation=activation, solver="sgd", alpha=2 * n * lam,
                        batch_size=n, learning_rate_init=lr, momentum=0.0, max_iter=1, shuffle=False,
                        warm_start=True, tol=0.0, n_iter_no_change=10**9)
    with pytest.warns(Warning):  # max_iter=1 does not converge
        clf.fit(split.X_train, split.y_train)  # sets up classes and shapes
    assert clf.coefs_[-1].shape == params.W[-1].shape[1:]  # the same network
    clf.coefs_ = [W[0].copy() for W in params.W]
    clf.intercepts_ = [b[0].copy() for b in params.b]
    with pytest.warns(Warning):  # a warm-started fit() builds a fresh optimizer on the weights set above
        clf.fit(split.X_train, split.y_train)
    data = Arrays(split.X_train, split.Y_train, split.X_test, split.Y_test)
    params = train(params, np.array([lam]), [0], data, make_spec(activation, loss),
                   schedule(optimizer="gd", lr=lr, epochs=1, history_every=0)).params
    for ours, theirs in zip(params.W + params.b, clf.coefs_ + clf.intercepts_, strict=True):
        np.testing.assert_allclose(ours[0], theirs, rtol=1e-12, atol=1e-14)


@pytest.mark.slow  # ~0.6–1 s; the suite's time budget keeps it for CI
def test_memory_budget_splits_a_sweep_into_chunks_with_the_same_numbers():
    from l2cli.sweeps.layout import bytes_per_model

    cfg = small_config(**{"sweep.workers": 1, "sweep.memory_mb": 16, "model.hidden": [256, 256],
                          "data.n_samples": 400, "train.epochs": 2})
    exp, chunked = sweep(cfg)
    per_model = bytes_per_model(exp)
    assert 1 < 16 * 2**20 // per_model < 18  # the budget holds a few of the 18 models of the sweep
    assert chunked.layout.chunk_size == 16 * 2**20 // per_model
    _, whole = sweep(small_config(**{"sweep.workers": 1, "model.hidden": [256, 256],
                                     "data.n_samples": 400, "train.epochs": 2}))
    assert whole.layout.chunk_size == 18
    for a, b in zip(whole.params.arrays(), chunked.params.arrays(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.slow  # PyTorch takes seconds to import: the references run in the slow suite (CI)
def test_one_sgd_step_matches_pytorch_weight_decay_2lambda():
    """PyTorch SGD with weight_decay = 2λ on the weights (not the biases) takes l2cli's step at λ."""
    torch = reference_torch()
    split = split_dataset(load_builtin("wine"), test_size=0.5, val_size=0.0, seed=0)
    lam, lr = 0.03, 0.1
    params = init_params((13, 6, 3), [init_rng(0)], "he")
    net = torch.nn.Sequential(torch.nn.Linear(13, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3)).double()
    with torch.no_grad():
        for layer, W, b in zip((net[0], net[2]), params.W, params.b, strict=True):
            layer.weight.copy_(torch.from_numpy(W[0].T.copy()))
            layer.bias.copy_(torch.from_numpy(b[0].copy()))
    opt = torch.optim.SGD([{"params": [net[0].weight, net[2].weight], "weight_decay": 2 * lam},
                           {"params": [net[0].bias, net[2].bias], "weight_decay": 0.0}], lr=lr)
    X = torch.from_numpy(split.X_train)
    y = torch.from_numpy(np.searchsorted(split.classes, split.y_train))
    opt.zero_grad()
    torch.nn.functional.cross_entropy(net(X), y).backward()
    opt.step()
    data = Arrays(split.X_train, split.Y_train, split.X_test, split.Y_test)
    params = train(params, np.array([lam]), [0], data, make_spec("relu", "cross_entropy"),
                   schedule(optimizer="gd", lr=lr, epochs=1, history_every=0)).params
    for layer, W, b in zip((net[0], net[2]), params.W, params.b, strict=True):
        np.testing.assert_allclose(W[0], layer.weight.detach().numpy().T, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(b[0], layer.bias.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dataset,loss", [("moons", "auto"), ("moons", "logistic"), ("diabetes", "auto")])
def test_summary_scores_equal_sklearn_metrics_per_model(dataset, loss):
    from sklearn.metrics import accuracy_score, r2_score

    from l2cli.maths.network import predict
    from l2cli.training.summary import summarize
    from l2cli.training.train import TrainResult

    exp, result = sweep(small_config(**{"data.dataset": dataset, "data.n_samples": 200, "data.val_size": 0.2,
                                        "model.loss": loss}))
    assert exp.layer_sizes[-1] == (1 if loss == "logistic" or dataset == "diabetes" else 2)
    params = result.params.copy()
    params.W[0][3] = np.nan  # a diverged model scores NaN, the others are unaffected
    summary = summarize(exp, result.points, TrainResult(params, np.zeros(18, int), ["completed"] * 18))
    s = exp.split
    for part, X, y in (("train", s.X_train, s.y_train), ("val", s.X_val, s.y_val), ("test", s.X_test, s.y_test)):
        Z = predict(params, X, exp.spec.activation)
        if s.task == "classification":
            predicted = [(Z[m][:, 0] > 0).astype(int) if loss == "logistic" else Z[m].argmax(1) for m in range(18)]
            expected = [accuracy_score(y, s.classes[predicted[m]]) for m in range(18) if m != 3]
            got = summary[f"{part}_accuracy"]
        else:
            expected = [r2_score(y, Z[m][:, 0] * s.target_scale + s.target_mean) for m in range(18) if m != 3]
            got = summary[f"{part}_r2"]
        assert np.isnan(got[3])
        np.testing.assert_allclose(np.delete(got.to_numpy(), 3), expected, rtol=1e-12)
        assert got.nunique() > 2  # the models really differ


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
def test_three_full_batch_steps_follow_the_optimizer_formulas(optimizer):
    """train() against the update rules written out from ∂J/∂θ (objective_grad), state carried over steps."""
    from l2cli.maths.objective import objective_grad

    split = split_dataset(load_builtin("wine"), test_size=0.5, val_size=0.0, seed=0)
    lam, lr, mu, b1, b2, eps = np.array([0.0, 0.01, 0.3]), 0.05, 0.9, 0.9, 0.999, 1e-8
    params = init_params((13, 6, 3), [init_rng(s) for s in range(3)], "he")
    ref = params.copy()
    spec = make_spec("relu", "cross_entropy")
    state = [[np.zeros_like(t) for t in ref.arrays()] for _ in range(2)]
    for t in range(1, 4):
        dW, db = objective_grad(ref, split.X_train, split.Y_train, lam, spec)
        for theta, g, s1, s2 in zip(ref.arrays(), dW + db, *state, strict=True):
            if optimizer == "gd":
                theta -= lr * g
            elif optimizer == "momentum":
                s1[:] = mu * s1 - lr * g
                theta += s1
            else:
                s1[:] = b1 * s1 + (1 - b1) * g
                s2[:] = b2 * s2 + (1 - b2) * g * g
                theta -= lr * (s1 / (1 - b1**t)) / (np.sqrt(s2 / (1 - b2**t)) + eps)
    data = Arrays(split.X_train, split.Y_train, split.X_test, split.Y_test)
    params = train(params, lam, [0, 1, 2], data, spec,
                   schedule(optimizer=optimizer, lr=lr, batch_size=0, epochs=3, history_every=0,
                            **({"momentum": mu} if optimizer == "momentum" else {}))).params
    for ours, expected in zip(params.arrays(), ref.arrays(), strict=True):
        np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.slow  # ~1 s of training; the suite's time budget keeps it for CI
def test_history_records_each_model_where_it_stops_whatever_its_neighbours():
    """With tol, models stop at different epochs; each one's last history row is its stopping epoch, and
    the stacked history equals the one-model-at-a-time history row for row."""
    flags = {"train.optimizer": "gd", "train.epochs": 3000, "train.tol": 1e-6, "train.history_every": 0,
             "model.hidden": [], "sweep.lambdas": "0.01,0.1,1", "sweep.seeds": [0, 1]}
    _, stacked = sweep(small_config(**flags, **{"sweep.workers": 1}))
    _, alone = sweep(small_config(**flags, **{"sweep.workers": 1, "sweep.engine": "sequential"}))
    stopped = stacked.summary["epochs"].to_numpy()
    assert (stacked.summary["status"] == "converged").all() and len(set(stopped)) > 1
    last = stacked.history.groupby(["lambda", "seed"], sort=False)["epoch"].agg(["min", "max", "size"])
    assert list(last["max"]) == list(stopped) and (last["min"] == 0).all() and (last["size"] == 2).all()
    pd.testing.assert_frame_equal(stacked.history, alone.history, rtol=1e-10)


@pytest.mark.parametrize(("dataset", "score"), [("moons", "accuracy"), ("iris", "accuracy"), ("curve", "r2")])
def test_history_metrics_end_where_the_summary_does(tmp_path, dataset, score):
    """train.history_metrics: the scores recorded from the trained-on targets at the last epoch are the summary's,
    computed from the raw labels (accuracy exactly; R², which standardizing the target cannot change, to 1e-12)."""
    from conftest import invoke

    from l2cli.rundir.run import Run

    result = invoke("sweep", "--dataset", dataset, "--epochs", "30", "--lambdas", "0,0.1", "--seeds", "0,1",
                    "--set", "model.hidden=[8]", "--set", "train.history_metrics=true", "--out", tmp_path / "r", "-q")
    assert result.exit_code == 0, result.output
    run = Run.load(tmp_path / "r")
    last = run.history.sort_values("epoch").groupby(["lambda", "seed"]).tail(1).set_index(["lambda", "seed"])
    summary = run.summary.set_index(["lambda", "seed"])
    for part in ("train", "val", "test"):
        np.testing.assert_allclose(last[f"{part}_{score}"], summary.loc[last.index, f"{part}_{score}"], rtol=1e-12,
                                   atol=1e-12)
    plain = invoke("sweep", "--dataset", dataset, "--epochs", "3", "--lambdas", "0", "--seeds", "0", "--set",
                   "model.hidden=[8]", "--out", tmp_path / "p", "-q")
    assert plain.exit_code == 0 and f"train_{score}" not in Run.load(tmp_path / "p").history.columns  # off: as before
