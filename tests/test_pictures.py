"""The pictures of L2 and `l2cli predict`: panels for the runs they apply to, one-line refusals for the others,
the boundary equal to predict, predictions that reproduce summary.csv, and the data checked against the run."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import invoke

from l2cli.rundir.run import Run
from l2cli.tools.reload import model_params, model_row, predicted_classes, reload

pytest.importorskip("matplotlib")




def make_run(tmp_path, name, *flags):
    out = tmp_path / name
    result = invoke("sweep", "--out", out, "--set", "sweep.seeds=[0,1]", "--set", "model.hidden=[16]", *flags)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {
        "moons": make_run(root, "moons", "--epochs", "200", "--lambdas", "1e-4,1e-2,1"),
        "curve": make_run(root, "curve", "--dataset", "curve", "--optimizer", "lbfgs", "--set", "train.gtol=1e-8",
                          "--lambdas", "0,1e-3,1e-1"),  # at their minima: the curvature panel applies
        "digits": make_run(root, "digits", "--dataset", "digits", "--epochs", "20", "--lambdas", "1e-3,1e-1"),
        "diabetes": make_run(root, "diabetes", "--dataset", "diabetes", "--epochs", "50", "--lambdas", "1e-3,1e-1"),
    }


def png_size(path):
    import matplotlib.image

    return matplotlib.image.imread(path).shape[:2]


SLOW = pytest.mark.slow  # ~0.6 s each: two panels stay in the default suite, every panel runs in CI


@pytest.mark.parametrize(("name", "panels"), [
    ("moons", ["boundary"]), pytest.param("moons", ["weights"], marks=SLOW), ("curve", ["fit"]),
    pytest.param("curve", ["fit", "weights", "losses"], marks=SLOW),
    pytest.param("digits", ["weights", "coefficients"], marks=SLOW), pytest.param("diabetes", ["norms", "learning"],
                                                                                  marks=SLOW),
])
def test_each_panel_renders_for_the_runs_it_applies_to(runs, tmp_path, name, panels):
    path = tmp_path / "p.png"
    result = invoke("plot", runs[name], "-o", path, *[a for p in panels for a in ("--panel", p)])
    assert result.exit_code == 0, result.output
    height, width = png_size(path)
    assert height > 250 and width > 500


@pytest.mark.slow  # 6 s: the default suite stays under 60 s
def test_the_default_panels_are_those_that_apply(runs, tmp_path, monkeypatch):
    import l2cli.plot.figure as plot

    drawn = {}
    original = plot.choose_panels
    monkeypatch.setattr(plot, "choose_panels",
                        lambda run, asked, log=None: drawn.setdefault(run.path.name, original(run, asked, log)))
    for name in runs:
        assert invoke("plot", runs[name], "-o", tmp_path / f"{name}.png").exit_code == 0
    table = ["losses", "norms", "learning", "coefficients"]

    def curvature(name):  # drawn by default for a run whose diagnostics ran (sweep.curvature = auto decides) and
        summary = pd.read_csv(runs[name] / "summary.csv")  # gave a γ: some model stopped at a minimum of J
        return ["curvature"] if "effective_params" in summary and summary["effective_params"].notna().any() else []

    assert drawn["moons"][0] == [*table, "boundary", "weights", *curvature("moons")]
    assert drawn["curve"][0] == [*table, "fit", "weights", *curvature("curve")]
    assert drawn["digits"][0] == [*table, "weights", *curvature("digits")]
    assert drawn["diabetes"][0] == [*table, "weights", *curvature("diabetes")]
    assert any(curvature(name) for name in runs) and not all(curvature(name) for name in runs)


@pytest.mark.parametrize(("name", "panel", "message"), [
    ("digits", "boundary", "--panel boundary: it draws classification on 2 numeric input columns, and digits is "
                           "classification with 64 input feature(s)"),
    ("diabetes", "fit", "--panel fit: it draws regression on 1 numeric input column, and diabetes is regression "
                        "with 10 input feature(s)"),
    ("moons", "fit", "--panel fit: it draws regression on 1 numeric input column"),
    ("curve", "boundary", "--panel boundary: it draws classification on 2 numeric input columns"),
])
def test_a_panel_that_does_not_apply_is_one_line_and_exit_2(runs, tmp_path, name, panel, message):
    result = invoke("plot", runs[name], "-o", tmp_path / "p.png", "--panel", panel)
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "p.png").exists()


def test_the_boundary_of_a_model_is_its_predict_on_the_same_grid_points(runs, tmp_path):
    """The map's classes come from the grid points through the run's preprocessing and the network; l2cli
    predict on a CSV of those points gives the same class at every one of them."""
    from l2cli.plot.pictures import grid_frame, raw_parts

    run = Run.load(runs["moons"])
    reloaded = reload(run)
    exp = reloaded.experiments[0]
    xx, _, points = grid_frame(raw_parts(exp), steps=40)
    for lam in (1e-4, 1.0):
        index = model_row(run, lam, 1)
        regions = exp.split.classes[predicted_classes(exp, model_params(run, index), points)]
        points.to_csv(tmp_path / "grid.csv", index=False)
        result = invoke("predict", runs["moons"], "--data", tmp_path / "grid.csv", "--lambda", lam, "--seed", 1,
                        "--format", "csv")
        assert result.exit_code == 0, result.output
        predicted = pd.read_csv(pd.io.common.StringIO(result.stdout))["predicted"].to_numpy()
        assert np.array_equal(predicted, regions) and len(predicted) == xx.size
        assert len(set(regions)) == 2  # the grid covers both classes


@pytest.mark.parametrize(("name", "metric"), [("moons", "train_accuracy"), ("curve", "train_r2"),
                                              ("diabetes", "train_r2")])
def test_predict_on_the_training_rows_reproduces_summary_exactly(runs, tmp_path, name, metric):
    from sklearn.metrics import r2_score

    from l2cli.maths.evaluate import r2

    run = Run.load(runs[name])
    split = reload(run).experiments[0].split
    split.raw_train.to_csv(tmp_path / "train.csv", index=False)
    for lam in sorted(set(run.summary["lambda"])):
        result = invoke("predict", runs[name], "--data", tmp_path / "train.csv", "--lambda", lam, "--format", "csv")
        assert result.exit_code == 0, result.output
        predicted = pd.read_csv(pd.io.common.StringIO(result.stdout))
        row = run.summary.iloc[model_row(run, lam)]
        if metric == "train_accuracy":
            assert np.mean(predicted["predicted"].to_numpy() == split.y_train) == row[metric]
            P = predicted[[c for c in predicted.columns if c.startswith("p_")]].to_numpy()
            np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-15)
        else:
            values = predicted["predicted"].to_numpy()
            assert r2(split.y_train, values[None, :])[0] == row[metric]  # summary.csv's R², to the last bit
            assert r2_score(split.y_train, values) == pytest.approx(row[metric], rel=1e-15)


def test_predict_defaults_to_the_selected_lambda_and_seed_0(runs, tmp_path):
    run = Run.load(runs["moons"])
    pd.DataFrame({"x0": [0.0, 1.5], "x1": [0.5, -0.5]}).to_csv(tmp_path / "new.csv", index=False)
    default = invoke("predict", runs["moons"], "--data", tmp_path / "new.csv", "--format", "json")
    explicit = invoke("predict", runs["moons"], "--data", tmp_path / "new.csv", "--format", "json",
                      "--lambda", run.selection["lambda"], "--seed", 0)
    assert default.exit_code == 0 and default.stdout == explicit.stdout
    assert [set(r) for r in json.loads(default.stdout)] == [{"predicted", "p_0", "p_1"}] * 2


@pytest.mark.parametrize(("csv", "args", "message"), [
    ("x0\n1.0\n", [], "new.csv lacks the feature column 'x1'"),
    ("x0,x1,colour\n1,2,red\n", [], "new.csv has column 'colour' the run did not train on"),
    ("x0,x1\n1,\n", [], "new.csv line 2: missing value in 'x1'"),
    ("x0,x1\n1,abc\n", [], "line 2: 'abc' in 'x1' is not a number"),
    ("x0,x1\n1,2\n", ["--lambda", "0.5"], "--lambda 0.5: not a λ of run"),
    ("x0,x1\n1,2\n", ["--seed", "7"], "--seed 7: run"),
])
def test_predict_refuses_bad_input_in_one_line(runs, tmp_path, csv, args, message):
    (tmp_path / "new.csv").write_text(csv)
    result = invoke("predict", runs["moons"], "--data", tmp_path / "new.csv", *args)
    assert result.exit_code == 2 and message in result.output and len(result.output.strip().splitlines()) == 1


def test_a_changed_dataset_is_refused(runs, tmp_path):
    """The data rebuilt from manifest.json must be the data the run trained on (its SHA-256 fingerprint)."""
    import shutil

    copy = tmp_path / "changed"
    shutil.copytree(runs["moons"], copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["config"]["data"]["noise"] = 0.31  # the generator now makes other points
    (copy / "manifest.json").write_text(json.dumps(manifest))
    pd.DataFrame({"x0": [0.0], "x1": [0.0]}).to_csv(tmp_path / "new.csv", index=False)
    for args in (["plot", copy, "-o", tmp_path / "p.png", "--panel", "boundary"],
                 ["predict", copy, "--data", tmp_path / "new.csv"]):
        result = invoke(*args)
        assert result.exit_code == 2 and "is not the data" in result.output and "fingerprint" in result.output


def test_a_diverged_model_is_crossed_out_not_left_out(tmp_path):
    from matplotlib.figure import Figure

    from l2cli.plot.pictures import draw_boundaries, draw_weights

    out = tmp_path / "wild"  # plain SGD at η = 3: λ = 1 shrinks W by 1 − 2ηλ = −5 a step and diverges
    result = invoke("sweep", "--out", out, "--set", "sweep.seeds=[0]", "--set", "model.hidden=[16]", "--epochs", 30,
                    "--optimizer", "sgd", "--lr", 3, "--lambdas", "0,1e-2,1")
    assert result.exit_code == 1 and "diverged" in result.output
    run = Run.load(out)
    lambdas = [0.0, 1e-2, 1.0]
    statuses = [run.summary.iloc[model_row(run, lam, 0)]["status"] for lam in lambdas]
    assert statuses == ["completed", "completed", "diverged"]
    axes = Figure().subplots(1, 3, squeeze=False)
    draw_boundaries(axes, reload(run), [0], lambdas, 0)
    assert ["diverged" in ax.get_title() for ax in axes[0]] == [False, False, True]
    assert [len(ax.collections) > 0 for ax in axes[0]] == [True, True, False]  # regions and points, or a cross
    ax = Figure().subplots()
    draw_weights(ax, run, lambdas, 0, {})
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 3 and [("diverged (not drawn)" in t) for t in labels] == [False, False, True]


def test_the_loss_panel_marks_every_lambda_with_a_diverged_model(tmp_path):
    from matplotlib.figure import Figure

    from l2cli.plot.figure import _lambda_axis

    out = tmp_path / "wild"
    invoke("sweep", "--out", out, "--set", "sweep.seeds=[0,1]", "--set", "model.hidden=[16]", "--epochs", 30,
           "--optimizer", "sgd", "--lr", 3, "--lambdas", "0,1e-2,1")
    run = Run.load(out)
    ax = Figure().subplots()
    _lambda_axis(ax, run.aggregate, run.selection)
    marks = [line for line in ax.get_lines() if line.get_label().startswith("λ with diverged models")]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [1.0]
    assert marks[0].get_label() == "λ with diverged models (2 of 6)"


@pytest.mark.slow  # about 1 s: the default suite stays under 60 s
def test_a_run_whose_data_file_is_gone_still_plots_its_tables(tmp_path):
    """By default the panels that need the data are left out, with a line on stderr; asked for, they are an
    error (exit 2). Here a CSV run whose file was deleted after training."""
    rng = np.random.default_rng(0)
    data = tmp_path / "points.csv"
    pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80),
                  "label": rng.choice(["x", "y"], 80)}).to_csv(data, index=False)
    out = make_run(tmp_path, "csv", "--data", data, "--target", "label", "--epochs", "50", "--lambdas", "1e-3,1e-2,1")
    data.unlink()
    result = invoke("plot", out, "-o", tmp_path / "p.png")
    assert result.exit_code == 0 and (tmp_path / "p.png").is_file()
    assert "the boundary panel left out: the run's data file" in result.stderr
    result = invoke("plot", out, "-o", tmp_path / "q.png", "--panel", "boundary")
    assert result.exit_code == 2 and "data file not found" in result.output
