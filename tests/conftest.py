import numpy as np
import pytest

from l2cli.network import init_params
from l2cli.train import init_rng


def make_params(layer_sizes, seeds=(0, 1), init="glorot", dtype=np.float64, bias_scale=0.1):
    """A stack of small random nets with non-zero biases."""
    p = init_params(tuple(layer_sizes), [init_rng(s) for s in seeds], init, dtype)
    rng = np.random.default_rng(123)
    for b in p.b:
        b += bias_scale * rng.standard_normal(b.shape)
    return p


@pytest.fixture
def rng():
    return np.random.default_rng(0)
