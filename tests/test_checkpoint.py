"""A checkpoint holds the whole state of a training run: interrupted anywhere and continued from it,
training gives the same bits as without the interruption."""

import contextlib

import numpy as np
import pytest

from l2cli.config import resolve
from l2cli.maths.network import init_params
from l2cli.optim import METHODS, OPTIMIZERS
from l2cli.sweeps.experiment import prepare
from l2cli.training.checkpoint import Checkpoint
from l2cli.training.train import init_rng, train


class Interrupted(Exception):
    pass


def stopping_at(epoch_to_stop: int):
    seen = [0]

    def on_epoch(n: int) -> None:
        seen[0] += 1
        if seen[0] == epoch_to_stop:
            raise Interrupted

    return on_epoch


@pytest.mark.parametrize("optimizer,flags", [
    ("adam", {"train.early_stopping": True, "train.patience": 4}),
    pytest.param("momentum", {"train.tol": 1e-4}, marks=pytest.mark.slow),  # ~0.7–0.9 s each
    pytest.param("sgd", {"sweep.seeds": [0, 1, 2]}, marks=pytest.mark.slow),
    ("adam", {"train.decay": "decoupled", "train.early_stopping": True, "train.patience": 4}),
    pytest.param("momentum", {"train.decay": "decoupled", "train.tol": 1e-3}, marks=pytest.mark.slow),
])
def test_continuing_from_a_checkpoint_gives_the_same_bits(tmp_path, optimizer, flags):
    cfg = resolve(flags={"data.n_samples": 120, "model.hidden": [8], "train.optimizer": optimizer, "train.lr": 0.05,
                         "train.batch_size": 16, "train.epochs": 40, "train.history_every": 3,
                         "sweep.seeds": [0, 1], **flags})
    exp = prepare(cfg)
    seeds = cfg.sweep.seeds * 2
    lam = np.repeat([1e-4, 1e-1], len(cfg.sweep.seeds))

    def run(on_epoch=None, checkpoint=None):
        params = init_params(exp.layer_sizes, [init_rng(s) for s in seeds], exp.init, exp.dtype)
        return train(params, lam, seeds, exp.arrays, exp.spec, exp.schedule, on_epoch, checkpoint)

    whole = run()
    last = int(whole.epochs.max()) if optimizer != "adam" else int(whole.history["epoch"].max())
    for stop_at in (1, max(2, last // 3), max(3, 2 * last // 3)):
        checkpoint = Checkpoint(tmp_path / f"at{stop_at}.npz", every_s=0.0)
        with pytest.raises(Interrupted):
            run(stopping_at(stop_at), checkpoint)
        assert checkpoint.path.is_file() == (stop_at > 1)  # written after each epoch, the interrupted one excluded
        resumed = run(checkpoint=checkpoint)
        for a, b in zip(whole.params.arrays(), resumed.params.arrays(), strict=True):
            np.testing.assert_array_equal(a, b)
        assert resumed.status == whole.status
        np.testing.assert_array_equal(resumed.epochs, whole.epochs)
        assert whole.history.keys() == resumed.history.keys()
        for name in whole.history:
            np.testing.assert_array_equal(whole.history[name], resumed.history[name])
    assert set(whole.status) != {"completed"} or optimizer == "sgd"  # the stopping rules really acted


def test_training_in_segments_gives_the_same_bits(tmp_path):
    """A cluster worker trains a chunk in segments and hands its state back each time (l2cli.executors.dask)."""
    from l2cli.training.checkpoint import Paused, Segment

    cfg = resolve(flags={"data.n_samples": 120, "model.hidden": [8], "train.optimizer": "adam", "train.lr": 0.05,
                         "train.batch_size": 16, "train.epochs": 30, "sweep.seeds": [0, 1]})
    exp = prepare(cfg)
    lam, seeds = np.array([1e-3, 1e-3, 1e-1, 1e-1]), [0, 1, 0, 1]

    def run(checkpoint=None):
        params = init_params(exp.layer_sizes, [init_rng(s) for s in seeds], exp.init, exp.dtype)
        return train(params, lam, seeds, exp.arrays, exp.spec, exp.schedule, None, checkpoint)

    whole, state, pauses = run(), None, 0
    while True:
        try:
            done = run(Segment(state, every_s=0.0))  # pauses after every epoch
            break
        except Paused as pause:
            state, pauses = pause.state, pauses + 1
    assert pauses == 29
    for a, b in zip(whole.params.arrays(), done.params.arrays(), strict=True):
        np.testing.assert_array_equal(a, b)
    for name in whole.history:
        np.testing.assert_array_equal(whole.history[name], done.history[name])


def lbfgs_chunk():
    """Four L-BFGS models of one chunk, and a function that trains them (from their seeds) with a checkpoint."""
    cfg = resolve(flags={"data.n_samples": 120, "model.hidden": [8], "train.optimizer": "lbfgs",
                         "train.max_iter": 60, "train.history_every": 7, "sweep.seeds": [0, 1]})
    exp = prepare(cfg)
    lam, seeds = np.array([1e-4, 1e-4, 1e-1, 1e-1]), [0, 1, 0, 1]

    def run(on_iteration=None, checkpoint=None):
        params = init_params(exp.layer_sizes, [init_rng(s) for s in seeds], exp.init, exp.dtype)
        return train(params, lam, seeds, exp.arrays, exp.spec, exp.schedule, on_iteration, checkpoint)

    return run


def same_result(a, b) -> None:
    for x, y in zip(a.params.arrays(), b.params.arrays(), strict=True):
        np.testing.assert_array_equal(x, y)
    assert a.status == b.status and a.history.keys() == b.history.keys()
    np.testing.assert_array_equal(a.epochs, b.epochs)
    for name in a.history:
        np.testing.assert_array_equal(a.history[name], b.history[name])


def test_an_lbfgs_chunk_continues_after_the_models_it_finished(tmp_path):
    """Interrupted inside its third model, an L-BFGS chunk keeps the two it finished and minimizes the rest:
    the same bits as without the interruption."""
    run = lbfgs_chunk()
    whole = run()
    assert whole.epochs[:2].sum() < 200 and set(whole.status) <= {"converged", "max_iter"}
    stop_at = int(whole.epochs[:2].sum()) + 3  # three iterations into the third model
    checkpoint = Checkpoint(tmp_path / "lbfgs.npz", every_s=0.0)
    with pytest.raises(Interrupted):
        run(stopping_at(stop_at), checkpoint)
    counted = []
    resumed = run(counted.append, checkpoint)
    assert sum(counted) == whole.epochs[2:].sum()  # only the last two models were minimized again
    same_result(whole, resumed)


def test_an_lbfgs_chunk_trains_in_segments_of_whole_models():
    from l2cli.training.checkpoint import Paused, Segment

    run = lbfgs_chunk()
    whole, state, pauses = run(), None, 0
    while True:
        try:
            done = run(checkpoint=Segment(state, every_s=0.0))  # pauses after every model but the last
            break
        except Paused as pause:
            state, pauses = pause.state, pauses + 1
    assert pauses == 3
    same_result(whole, done)


RULES = {"all epochs": {}, "tol": {"train.tol": 1e-3},
         "early stopping": {"train.early_stopping": True, "train.patience": 3}}


def rule_matrix():
    """Every optimizer l2cli.optim finds × every stopping rule; the default suite runs each optimizer with one rule
    (each rule in turn), the slow suite the whole matrix (about 0.4 s a case)."""
    names = list(RULES)
    for k, optimizer in enumerate(OPTIMIZERS):
        for rule in names:
            diagonal = rule == (names[0] if METHODS[optimizer].minimize else names[k % len(names)])
            yield pytest.param(optimizer, rule, marks=() if diagonal else pytest.mark.slow, id=f"{optimizer}-{rule}")


@pytest.mark.parametrize(("optimizer", "rule"), list(rule_matrix()))
def test_every_optimizer_and_stopping_rule_continues_from_its_checkpoint_bit_for_bit(tmp_path, optimizer, rule):
    """Each component owns its state (state_dict); a checkpoint file holds them all. Interrupted after any
    step and continued from the file, training gives the bits of an uninterrupted run."""
    minimizer = METHODS[optimizer].minimize is not None
    if minimizer and rule != "all epochs":
        pytest.skip("a minimizer stops by its own rules (gtol, max_iter)")
    keys = {"train.max_iter": 12} if minimizer else {
        "train.lr": 0.05, "train.batch_size": 16, "train.epochs": 25, "train.history_every": 2, **RULES[rule]}
    cfg = resolve(flags={"data.n_samples": 120, "model.hidden": [8], "train.optimizer": optimizer,
                         "sweep.seeds": [0, 1], **keys})
    exp = prepare(cfg)
    seeds, lam = [0, 1, 0, 1], np.array([1e-4, 1e-4, 1e-1, 1e-1])

    def run(on_epoch=None, checkpoint=None):
        params = init_params(exp.layer_sizes, [init_rng(s) for s in seeds], exp.init, exp.dtype)
        return train(params, lam, seeds, exp.arrays, exp.spec, exp.schedule, on_epoch, checkpoint)

    whole = run()
    steps = 4 * 12 if minimizer else 25
    for stop_at in (2, steps // 2, steps - 3):
        checkpoint = Checkpoint(tmp_path / f"{stop_at}.npz", every_s=0.0)
        with contextlib.suppress(Interrupted):  # L-BFGS: a late stop may come after its last iteration
            run(stopping_at(stop_at), checkpoint)
        resumed = run(checkpoint=checkpoint)
        for a, b in zip(whole.params.arrays(), resumed.params.arrays(), strict=True):
            np.testing.assert_array_equal(a, b)
        assert resumed.status == whole.status
        np.testing.assert_array_equal(resumed.epochs, whole.epochs)
        for name in whole.history:
            np.testing.assert_array_equal(whole.history[name], resumed.history[name])


def test_a_damaged_checkpoint_restarts_its_chunk_with_a_line(tmp_path, capsys):
    path = tmp_path / "c.npz"
    path.write_bytes(b"PK\x03\x04 not a zip file")
    assert Checkpoint(path, 1.0).read() is None
    assert "cannot be read back" in capsys.readouterr().err
