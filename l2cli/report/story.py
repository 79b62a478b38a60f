"""The story of a run in words and tables, from its own files: what was run, the answer, the trade-off, the
tables, the pictures that apply, and every warning and note.

:func:`story` returns a :class:`~l2cli.report.document.Document`; l2cli.report.html and l2cli.report.markdown write
it. For a grid, the comparison across cells comes first, then one section per cell.
"""

from __future__ import annotations

import shlex

import numpy as np
import pandas as pd

from ..plot.style import cell_label
from .document import Document, Facts, Picture, Section, Table, lam, number

#: the panels of the whole run on a grid (the rest are drawn per cell)
ACROSS_CELLS = ("losses", "norms", "heatmap", "across", "evidence")
CAPTIONS = {
    "losses": "Train, validation and test loss against λ (mean over seeds, 95 % band).",
    "norms": "The weight norm √Σ‖W_l‖² against λ.",
    "learning": "Learning curves per λ: test loss (solid) and train loss (dotted).",
    "heatmap": "The test loss over λ × the last grid key (mean over seeds), a map per value of the other keys: "
               "each row's best λ ringed, the selected cell boxed.",
    "evidence": "MacKay's evidence: the log evidence against λ (★ its maximum), and each cell's largest evidence "
                "against the test loss at that λ.",
    "across": "The test loss against the first grid key, one line per λ; the black line is the best λ at each "
              "value: the optimally regularized model.",
    "coefficients": "The norm of each input's first-layer weights against λ: the ridge path.",
    "boundary": "The decision boundary of each λ (one seed): filled points train, hollow points test.",
    "fit": "The fitted function of each λ (one seed) over the training and test rows.",
    "weights": "The distribution of every weight at a few λ (one seed).",
    "curvature": "Left: the eigenvalues of the Gauss–Newton matrix and the shrinkage L2 applies to each "
                 "direction; right: the effective number of parameters γ against λ.",
}


def story(run, panels: list[str], cells_with: dict[str, list[int]], notes: list[str] = ()) -> Document:
    """The document of ``run`` (an l2cli.rundir.run.Run): ``panels`` the panels that apply, ``cells_with`` the
    grid cells each per-cell panel applies to, ``notes`` what was left out and why (l2cli.plot.figure)."""
    keys = run.grid_keys
    sections = [Section("What was run", "what-was-run", [Facts(facts(run))])]
    if not keys:
        sections.append(Section("Results", "results", [tradeoff(run.aggregate), *tables(run, run.aggregate)]))
        sections.append(Section("Pictures", "pictures", [
            Picture(p, None, CAPTIONS[p], p) for p in panels]))
    else:
        compare = Section("Comparison across cells", "comparison", [
            cells_table(run), *[Picture(p, None, CAPTIONS[p], p) for p in panels if p in ACROSS_CELLS]])
        sections.append(compare)
        if run.selection.get("table"):
            compare.blocks.append(selection_table(run))
        for k, cell in enumerate(run.manifest["cells"]):
            rows = cell_rows(run.aggregate, cell["axes"])
            label = cell_label(cell["axes"], wrap=200)
            blocks = [f"Layer sizes {'-'.join(str(s) for s in cell.get('layer_sizes', []))}, "
                      f"{cell.get('n_train')} training rows.", tradeoff(rows), *tables(run, rows, selection=False)]
            blocks += [Picture(p, k, CAPTIONS[p], f"{p}-cell-{k + 1}") for p in panels
                       if p not in ACROSS_CELLS and k in cells_with.get(p, [k])]
            sections.append(Section(f"Cell {k + 1}: {label}", f"cell-{k + 1}", blocks))
    sections.append(Section("Warnings and notes", "notes", warnings(run, notes)))
    name = run.path.name if run.path is not None else "run"
    return Document(f"l2cli report: {name}", answer(run), sections)


def cell_rows(frame: pd.DataFrame, axes: dict) -> pd.DataFrame:
    """The rows of ``frame`` of one grid cell (compared as text, as the tables write the values)."""
    for key, value in axes.items():
        frame = frame[frame[key].astype(str) == str(value)]
    return frame


def answer(run) -> str:
    """The one-line answer: the chosen λ, by which rule, its losses, and the one-standard-error set."""
    sel = run.selection
    if sel.get("lambda") is None:
        return f"No λ was selected: {sel.get('reason', 'the run had no validation data')}."
    where = f" in the cell {cell_label(sel['axes'], wrap=200)}" if sel.get("axes") else ""
    text = f"λ = {lam(sel['lambda'])}{where}, chosen by the {sel['rule']} rule on the {sel.get('source')}"
    if sel.get("val_loss_mean") is not None:
        text += f": mean validation loss {number(sel['val_loss_mean'])}"
        if sel.get("se") is not None:
            text += f" (standard error {number(sel['se'], 2)} over {sel.get('se_n')} {sel.get('se_over')})"
    chosen = run.aggregate[run.aggregate["selected"].astype(str) == "True"]
    if len(chosen):
        row = chosen.iloc[0]
        text += f"; its test loss {number(row['test_loss_mean'])}"
        if pd.notna(row.get("test_loss_ci95")):
            text += f" ± {number(row['test_loss_ci95'], 2)} (95 % CI over {int(row['n_seeds'])} seeds)"
    text += "."
    within = sel.get("within_1se")
    if within:
        text += f" Within one standard error of the best: λ = {', '.join(lam(v) for v in within)}"
        one_se = (sel.get("choices") or {}).get("1se")
        text += f"; the 1se rule takes λ = {lam(one_se['lambda'])}." if one_se else "."
    if sel.get("at_edge"):
        text += " The chosen λ is at the edge of the grid: the best may lie beyond it."
    return text


def facts(run) -> list[tuple[str, str]]:
    """What was run: the command, the data, the network, the training, the sweep, the environment."""
    from ..config import Config

    m, cfg = run.manifest, Config.from_dict(run.manifest["config"]).to_dict()  # checked key by key, or InputError
    data, train, sweep = m.get("data", {}), cfg["train"], cfg["sweep"]
    model = cfg.get("model", {})
    command = m.get("command")
    cells = m.get("cells") or [{}]
    sizes = list(dict.fromkeys("-".join(str(s) for s in c.get("layer_sizes", [])) for c in cells))
    n_train = list(dict.fromkeys(str(c.get("n_train", data.get("n_train"))) for c in cells))
    rows = [("command", shlex.join(str(a) for a in command) if isinstance(command, list) else "–"),
            ("data", f"{data.get('name')}, {data.get('task')}: {' or '.join(n_train)} training rows, "
                     f"{data.get('n_val')} validation rows, {data.get('n_test')} test rows, "
                     f"{data.get('n_features')} input features"),
            ("data fingerprint", f"SHA-256 {data.get('fingerprint_sha256')}"),
            ("network", f"{' or '.join(sizes)} {model.get('activation')}, {m.get('network', {}).get('loss')} "
                        f"loss, {m.get('network', {}).get('init')} initialization, biases "
                        f"{'penalized' if model.get('penalize_bias') else 'not penalized'}"),
            ("training", f"{train.get('optimizer')}, learning rate {number(train.get('lr'))}, "
                         f"{train.get('epochs')} epochs, batch size {train.get('batch_size') or 'full'}, "
                         f"decay {train.get('decay', 'l2')}, {train.get('dtype')}"),
            ("λ grid", ", ".join(lam(v) for v in listed(sweep.get("lambdas")))),
            ("seeds", ", ".join(str(s) for s in listed(sweep.get("seeds")))),
            ("selection", f"rule {sweep.get('select')}"
                          + (f", {sweep['cv']}-fold cross-validation" if sweep.get("cv") else "")),
            ("models", f"{m.get('models')}: " + ", ".join(f"{n} {s}" for s, n in
                                                            listed_counts(m.get("status_counts")))),
            ("time", f"started {m.get('started')}, {number(m.get('seconds'), 3)} s")]
    if run.grid_keys:
        rows.insert(6, ("grid", "; ".join(f"{k} = {', '.join(str(v) for v in values)}"
                                          for k, values in cfg.get("grid", {}).items())))
    return rows + environment_rows(m.get("environment") or {})


def listed_counts(value) -> list:
    """status_counts' (status, count) pairs, or none when it is not a table."""
    return list(value.items()) if isinstance(value, dict) else []


def listed(value) -> list:
    """A list from the manifest as a list; anything else as the one thing it is."""
    return value if isinstance(value, list) else [] if value is None else [value]


def environment_rows(env: dict) -> list[tuple[str, str]]:
    """The numerical environment, in three rows (l2cli show RUN --environment has all of it)."""
    if not env:
        return []
    cpu, versions = env.get("cpu") or {}, env.get("versions") or {}
    blas = "; ".join(f"{b.get('library')} {b.get('version')} ({b.get('kernel')} kernels, {b.get('threads')} "
                     "threads)" for b in env.get("blas") or [] if isinstance(b, dict))
    return [("machine", f"{cpu.get('model')}, {env.get('architecture')}, {env.get('os')}"),
            ("BLAS", blas or "–"),
            ("versions", ", ".join(f"{k} {v}" for k, v in versions.items()))]


def tradeoff(rows: pd.DataFrame) -> str:
    """The trade-off in words, from the means over seeds of one grid cell: train loss and weight norm from the
    smallest λ to the largest, and where the test loss is lowest."""
    rows = rows.sort_values("lambda")
    finite = rows[np.isfinite(rows[["train_loss_mean", "weight_norm_mean", "test_loss_mean"]].to_numpy(float))
                  .all(axis=1)]
    parts = []
    lost = rows[~rows.index.isin(finite.index)]
    if len(lost):
        parts.append(f"λ = {', '.join(lam(v) for v in lost['lambda'])} left out: a mean there is not finite "
                     "(a model diverged).")
    if len(finite) < 2:
        return " ".join(parts + ["Fewer than two λ have finite means: no trade-off to describe."])
    first, last = finite.iloc[0], finite.iloc[-1]
    seeds = int(finite["n_seeds"].max())
    parts.append(f"Mean over {seeds} seed{'s' * (seeds != 1)}, from λ = {lam(first['lambda'])} to "
                 f"λ = {lam(last['lambda'])}: the training loss {trend(finite['train_loss_mean'], 'rises')} and "
                 f"the weight norm {trend(finite['weight_norm_mean'], 'falls')}.")
    best = finite.loc[finite["test_loss_mean"].idxmin()]
    where = (f"The test loss is lowest at λ = {lam(best['lambda'])} ({number(best['test_loss_mean'])}), against "
             f"{number(first['test_loss_mean'])} at the smallest λ and {number(last['test_loss_mean'])} at the "
             "largest")
    if best["lambda"] == first["lambda"]:
        where += ": the smallest λ of the grid, so this data needs little L2 in this range."
    elif best["lambda"] == last["lambda"]:
        where += ": the largest λ of the grid, so the best may lie above it."
    else:
        where += ": too little L2 overfits, too much underfits."
    return " ".join([*parts, where])


def trend(values: pd.Series, way: str) -> str:
    """How a column moves from the smallest λ to the largest: '``way`` from a to b', and whether at every step."""
    v = values.to_numpy(float)
    a, b = number(v[0]), number(v[-1])
    up = way == "rises"
    steps = np.diff(v)
    if (v[-1] > v[0]) != up or v[-1] == v[0]:
        return f"does not {way[:-1]} ({a} to {b})"
    if (steps >= 0).all() if up else (steps <= 0).all():
        return f"{way} at every step, from {a} to {b}"
    return f"{way} from {a} to {b}, though not at every step"


def tables(run, rows: pd.DataFrame, selection: bool = True) -> list[Table]:
    """The tables of one cell (or the run): means with 95 % intervals, per-layer norms, the evidence and γ,
    the folds, and (for the whole run) the selection table."""
    rows = rows.sort_values("lambda")
    metric = "test_accuracy" if "test_accuracy_mean" in rows else "test_r2"
    columns = ["λ", "seeds", "train loss", "validation loss", "test loss", metric.replace("_", " "),
               "weight norm"]
    body = [[lam(r["lambda"]), str(int(r["n_seeds"])), *(ci(r, c) for c in ("train_loss", "val_loss",
                                                                             "test_loss", metric, "weight_norm"))]
            for _, r in rows.iterrows()]
    out = [Table(columns, body, "Means over seeds with 95 % confidence intervals; the selected λ is marked ✓.",
                 tuple(columns[2:]))]
    for i, (_, r) in enumerate(rows.iterrows()):
        if str(r.get("selected")) == "True":
            body[i][0] += " ✓"
    layers = sorted((c[:-5] for c in rows if c.startswith("norm_W") and c.endswith("_mean")
                     and rows[c].notna().any()), key=lambda c: int(c[6:]))  # a cell's own layers only
    if layers:
        out.append(Table(["λ", *(f"‖W{c[6:]}‖" for c in layers)],
                         [[lam(r["lambda"]), *(number(r[f"{c}_mean"]) for c in layers)] for _, r in rows.iterrows()],
                         "The norm of each layer's weights (mean over seeds).", tuple(f"‖W{c[6:]}‖" for c in layers)))
    if "effective_params_mean" in rows and rows["effective_params_mean"].notna().any():
        out.append(Table(["λ", "γ", "log evidence"], [[lam(r["lambda"]), ci(r, "effective_params"),
                                                       ci(r, "log_evidence")] for _, r in rows.iterrows()],
                         "MacKay's effective number of parameters γ and the log evidence (mean over the seeds at a "
                         "minimum of J; NaN where none is).", ("γ", "log evidence")))
    if run.cv is not None:
        out.append(folds_table(run, rows))
    if selection and run.selection.get("table"):
        out.append(selection_table(run))
    return out


def ci(row, column: str) -> str:
    """A mean with its 95 % interval, "0.17 ± 0.012" (the interval left out where there is none)."""
    mean, half = row.get(f"{column}_mean"), row.get(f"{column}_ci95")
    if mean is None:
        return "–"
    return number(mean) + (f" ± {number(half, 2)}" if half is not None and pd.notna(half) and half != 0 else "")


def folds_table(run, rows: pd.DataFrame) -> Table:
    """Each fold's validation loss per λ (mean over seeds), for the cell of ``rows``."""
    cv = run.cv
    for key in run.grid_keys:
        cv = cv[cv[key].astype(str).isin(rows[key].astype(str).unique())]
    means = cv.groupby(["lambda", "fold"])["val_loss"].mean().unstack("fold").sort_index()
    columns = ["λ", *(f"fold {int(f) + 1}" for f in means.columns), "mean"]
    body = [[lam(v), *(number(x) for x in r), number(r.mean())] for v, r in means.iterrows()]
    return Table(columns, body, "Cross-validation: each fold's validation loss (mean over seeds).",
                 tuple(columns[1:]))


def selection_table(run) -> Table:
    """selection.json's table: per λ, the mean validation loss, its standard error, the 1-SE set, the wins."""
    table = run.selection["table"]
    keys = [k for k in table[0] if k not in ("lambda", "val_loss_mean", "val_loss_se", "within_1se",
                                               "win_frequency")] if table else []
    columns = [*keys, "λ", "validation loss", "standard error", "within 1 SE", "wins"]
    body = [[*(str(r.get(k)) for k in keys), lam(r["lambda"]), number(r.get("val_loss_mean")),
             number(r.get("val_loss_se")), "yes" if r.get("within_1se") else "no",
             number(r.get("win_frequency"), 2)] for r in table]
    return Table(columns, body, "How sure the choice is: the mean validation loss per λ, its standard error, "
                                "and how often each λ wins over the seeds (or folds × seeds).",
                 ("validation loss", "standard error", "wins"))


def cells_table(run) -> Table:
    """One row per grid cell: its best λ by mean validation loss, and that λ's test loss."""
    body = []
    for k, cell in enumerate(run.manifest["cells"]):
        rows = cell_rows(run.aggregate, cell["axes"])
        metric = "val_loss_mean" if rows["val_loss_mean"].notna().any() else "test_loss_mean"
        best = rows.loc[rows[metric].idxmin()] if rows[metric].notna().any() else None
        body.append([str(k + 1), cell_label(cell["axes"], wrap=200),
                     "–" if best is None else lam(best["lambda"]),
                     "–" if best is None else number(best["val_loss_mean"]),
                     "–" if best is None else ci(best, "test_loss")])
    return Table(["cell", "axes", "best λ", "validation loss", "test loss"], body,
                 "Each grid cell's best λ by mean validation loss.", ("validation loss", "test loss"))


def warnings(run, notes: list[str]) -> list[str]:
    """Every numeric warning, note and remark of the run, one paragraph each."""
    m, sel = run.manifest, run.selection
    out = list(notes)
    if run.loss_units:
        out.append(f"Units: {run.loss_units}.")
    diverged = int((run.summary["status"] == "diverged").sum())
    if diverged:
        out.append(f"{diverged} of {len(run.summary)} models diverged: their losses are NaN or inf in the tables.")
    warned = m.get("numeric_warnings")
    if warned:
        from ..training.numeric_warnings import line

        out.append(f"Numeric warnings while training: {line(warned)}.")  # its shape checked by check_manifest
    for note in (m.get("curvature") or {}).get("notes") or []:
        out.append(f"Curvature: {note}.")
    evidence = sel.get("by_evidence")
    if isinstance(evidence, dict) and evidence.get("lambda") is not None:
        out.append(f"By the evidence (MacKay), λ = {lam(evidence['lambda'])} with test loss "
                   f"{number(evidence.get('test_loss_mean'))}"
                   + (f"; {evidence.get('n_left_out')} λ left out: {evidence.get('left_out_reason')}"
                      if evidence.get("n_left_out") else "") + ".")
    out += [f"Selection: {r}." for r in sel.get("remarks") or []]
    return out or ["None: every model completed with no numeric warning."]
