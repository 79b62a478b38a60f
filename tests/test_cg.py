"""Conjugate gradients, a minimizer added as one module (l2cli/optim/cg.py) and one line of l2cli.optim's
MINIMIZERS: the same minimum as L-BFGS on a convex problem, its keys and no others, and the statuses."""

import numpy as np
import pytest
from conftest import invoke, sweep

from l2cli.config import resolve
from l2cli.errors import InputError
from l2cli.optim import METHODS, OPTIMIZERS


def minimized(optimizer: str, **keys):
    cfg = resolve(flags={"data.dataset": "breast_cancer", "model.hidden": [], "sweep.lambdas": [1e-3, 1e-1],
                         "sweep.seeds": [0], "sweep.workers": 1, "train.optimizer": optimizer, "sweep.curvature": "off",
                         "train.max_iter": 5000, **keys})
    return sweep(cfg)[1]


def test_conjugate_gradients_reach_the_minimum_lbfgs_reaches_on_a_convex_problem():
    cg, lbfgs = minimized("cg", **{"train.gtol": 1e-10}), minimized("lbfgs", **{"train.gtol": 1e-10, "train.ftol": 0})
    assert "cg" in OPTIMIZERS and METHODS["cg"].minimize == "cg:minimize_models"
    assert set(cg.summary["status"]) <= {"converged", "stalled"} and (cg.summary["grad_norm"] < 1e-7).all()
    np.testing.assert_allclose(cg.summary["objective"], lbfgs.summary["objective"], rtol=1e-10)
    for a, b in zip(cg.params.arrays(), lbfgs.params.arrays(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6 * np.abs(b).max())


def test_conjugate_gradients_stop_at_max_iter_and_say_so():
    few = minimized("cg", **{"train.max_iter": 3})
    assert set(few.summary["status"]) == {"max_iter"} and (few.summary["epochs"] == 3).all()


@pytest.mark.parametrize("key", ["train.ftol", "train.max_fun", "train.epochs", "train.lr"])
def test_keys_conjugate_gradients_do_not_read_are_refused(key):
    with pytest.raises(InputError, match=f"{key} does not apply to train.optimizer = cg, which reads train.max_iter, "
                                         "train.gtol"):
        resolve(overrides=["train.optimizer='cg'", f"{key}=1"])


def test_the_command_line_offers_it():
    result = invoke("sweep", "--optimizer", "cg", "--dataset", "wine", "--hidden", "4", "--lambdas", "1e-2",
                    "--seeds", "0", "--set", "train.max_iter=50", "--format", "csv", "-q")
    assert result.exit_code == 0, result.output
    assert "grad_norm" in result.stdout.splitlines()[0]
