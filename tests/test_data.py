"""Datasets and the split."""

import numpy as np
import pandas as pd
import pytest

from l2cli.data.builtin import load_builtin, load_csv, split_dataset
from l2cli.errors import InputError
from l2cli.vocabulary.choices import DATASETS as BUILTINS


@pytest.mark.parametrize("name", list(BUILTINS))
def test_every_builtin_loads_and_splits(name):
    ds = load_builtin(name)
    assert ds.task == BUILTINS[name].task and len(ds.X) == len(ds.y)
    s = split_dataset(ds, test_size=0.3, val_size=0.2, seed=1)
    assert len(s.X_train) + len(s.X_val) + len(s.X_test) == len(ds.y)
    assert np.isfinite(s.X_train).all()


def test_standardized_with_training_statistics_only():
    s = split_dataset(load_builtin("wine"), test_size=0.5, val_size=0.0, seed=0)
    np.testing.assert_allclose(s.X_train.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(s.X_train.std(0), 1, rtol=1e-12)
    assert np.abs(s.X_test.mean(0)).max() > 1e-3  # test rows are not re-centred


def test_split_is_seeded_and_stratified():
    ds = load_builtin("iris")
    a, b, c = (split_dataset(ds, 0.4, 0.0, seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a.X_test, b.X_test)
    assert not np.array_equal(a.X_test, c.X_test)
    assert np.bincount(a.y_test).tolist() == [20, 20, 20]
    assert a.Y_train.shape == (90, 3) and (a.Y_train.sum(1) == 1).all()


def test_synthetic_options_and_seed():
    a = load_builtin("moons", n_samples=50, noise=0.1, seed=3)
    b = load_builtin("moons", n_samples=50, noise=0.1, seed=3)
    assert a.X.shape == (50, 2)
    np.testing.assert_array_equal(a.X, b.X)
    assert load_builtin("classification", n_features=7, n_classes=3).X.shape[1] == 7


def test_regression_target_standardized_on_train():
    s = split_dataset(load_builtin("diabetes"), 0.5, 0.0, seed=0)
    assert s.Y_train.shape[1] == 1
    assert s.Y_train.mean() == pytest.approx(0, abs=1e-12)
    np.testing.assert_allclose(s.Y_test[:, 0] * s.target_scale + s.target_mean, s.y_test)


def test_csv_inference_and_encoding(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"x": [0.1, 0.5, 0.3, 0.9, 0.2, 0.7], "colour": list("rgbrgb"),
                  "label": ["a", "b", "a", "b", "a", "b"]}).to_csv(path, index=False)
    ds = load_csv(path, "label")
    assert ds.task == "classification" and ds.X.shape == (6, 2)  # raw columns; encoded at the split
    assert (ds.recipe.numeric, ds.recipe.text) == (("x",), ("colour",))
    assert list(ds.recipe.fit(ds.X).get_feature_names_out()) == ["x", "colour=b", "colour=g", "colour=r"]
    assert load_csv(path, "x").task == "regression"
    with pytest.raises(InputError, match="not in d.csv"):
        load_csv(path, "nope")
    with pytest.raises(InputError, match="not numeric"):
        load_csv(path, "label", task="regression")
    pd.DataFrame({"x": [1.0, None], "y": [0, 1]}).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"has missing values \(of 2 rows\): x 1;"):
        load_csv(path, "y", na="error")


def test_the_teacher_is_an_isotropic_linear_model_with_a_unit_teacher():
    """y − xᵀβ is the noise alone: least squares on many rows finds a β of norm 1 and residuals of std σ."""
    from l2cli.data.builtin import load_builtin

    ds = load_builtin("teacher", n_samples=20000, n_features=10, noise=0.3, seed=4)
    X, y = ds.X.to_numpy(), ds.y
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    assert abs(np.linalg.norm(beta) - 1) < 0.01 and abs(np.std(y - X @ beta) - 0.3) < 0.01
    assert np.allclose(X.mean(axis=0), 0, atol=0.03) and np.allclose(np.cov(X.T), np.eye(10), atol=0.05)
    again = load_builtin("teacher", n_samples=50, n_features=10, noise=0.3, seed=4)
    assert np.array_equal(again.X.to_numpy(), X[:50])  # the teacher first, then the rows: more rows extend them


def test_modular_addition_has_every_pair_once_and_its_sum_mod_p():
    from l2cli.data.builtin import load_builtin

    ds = load_builtin("modular", modulus=7)
    X = ds.X.to_numpy()
    assert X.shape == (49, 14) and (X.sum(axis=1) == 2).all() and ds.task == "classification"
    a, b = X[:, :7].argmax(axis=1), X[:, 7:].argmax(axis=1)
    assert len(set(zip(a, b, strict=True))) == 49 and np.array_equal(ds.y, (a + b) % 7)
    assert list(ds.X.columns[:2]) == ["a=0", "a=1"] and ds.X.columns[7] == "b=0"
