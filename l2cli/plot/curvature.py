"""The curvature panel of ``l2cli plot``: why L2 works, inside the model.

Left: for a few λ across the grid, the eigenvalues h_i of the Gauss–Newton matrix's block of the penalized
weights (l2cli.maths.curvature), sorted, with the shrinkage factor h/(h + 2λ) of each direction over them: the
directions the data pin down (large h) keep their component, the flat ones are shrunk to zero. Right: the effective
number of parameters γ = tr(A⁻¹κG) (l2cli.maths.evidence) against λ, mean over seeds, beside the
network's parameter count.
"""

from __future__ import annotations

import numpy as np


def determined(h: np.ndarray, targets: int) -> np.ndarray:
    """The eigenvalues of G that the data determine, largest first: at most ``targets`` (n·K, G's rank) and
    above G's round-off, max(n·K, P)·ε·h_max (the tolerance numpy's matrix_rank uses); the others are
    exactly 0 in exact arithmetic and round-off here."""
    h = np.sort(h)[::-1]
    tol = max(targets, len(h)) * np.finfo(np.float64).eps * (h[0] if len(h) else 0.0)
    return h[:targets][h[:targets] > tol]


def draw_curvature(axes, run, reloaded, lambdas: list[float], seed: int | None, most: int = 3,
                   cell: int = 0) -> None:
    """The two axes of the panel (see the module docstring), for grid cell ``cell``."""
    from ..sweeps.diagnostics import model_curvature
    from ..tools.reload import model_params, model_row
    from .style import lambda_colors, legend_outside

    ax_spectrum, ax_gamma = axes
    exp = reloaded.experiments[cell]
    axes_of_cell = run.manifest["cells"][cell]["axes"]
    positive = [lam for lam in lambdas if lam > 0]
    chosen = [positive[i] for i in sorted(set(np.linspace(0, len(positive) - 1, min(most, len(positive)))
                                               .round().astype(int)))]
    shrink = ax_spectrum.twinx()
    skipped = []
    targets = len(exp.split.X_train) * exp.layer_sizes[-1]
    for lam, color in zip(chosen, lambda_colors(chosen), strict=True):
        params = model_params(run, model_row(run, lam, seed, axes_of_cell))
        if not all(np.isfinite(a).all() for a in (*params.W, *params.b)):  # a diverged model: no curvature
            skipped.append(f"{lam:g}")
            continue
        curv = model_curvature(exp, params, "exact" if curv_exact(exp) else "lanczos", lam)
        h = determined(curv.h, targets)
        rank = np.arange(1, len(h) + 1)
        ax_spectrum.plot(rank, h, color=color, lw=1.2, marker="o", ms=2.5,
                         label=f"λ = {lam:g}: {len(h):,} of {len(curv.h):,} h above round-off")
        shrink.plot(rank, h / (h + 2 * lam), color=color, ls=":", lw=1.2, marker="o", ms=1.5)
    shrink.axhline(0.5, color="0.8", lw=0.6)
    ax_spectrum.plot([], [], color="0.3", lw=1.2, label="solid: eigenvalue h_i of G (left axis)")
    ax_spectrum.plot([], [], color="0.3", ls=":", lw=1.2, label="dotted: shrinkage h/(h + 2λ) (right axis)")
    ax_spectrum.plot([], [], color="0.8", lw=0.6, label="grey: shrinkage ½, where h = 2λ")
    ax_spectrum.plot([], [], " ", label="not drawn: h ≤ max(nK, P)·ε·h_max, round-off")
    for lam in skipped:
        ax_spectrum.plot([], [], color="crimson", label=f"λ = {lam}: weights not finite (not drawn)")
    ax_spectrum.set_yscale("log")
    ax_spectrum.set_xscale("log")
    if len(skipped) == len(chosen):  # nothing drawn: limits a log axis can take (matplotlib's default has 0)
        ax_spectrum.set_xlim(1, 10)
        ax_spectrum.set_ylim(1e-3, 1)
    ax_spectrum.set_xlabel("direction i (sorted by curvature)")
    ax_spectrum.set_ylabel("eigenvalue h_i of G")
    shrink.set_ylabel("shrinkage h/(h + 2λ)")
    shrink.set_ylim(0, 1.05)
    ax_spectrum.set_title("curvature: what L2 keeps and what it shrinks")
    legend_outside(ax_spectrum, columns=1)
    draw_gamma(ax_gamma, run, exp, cell)


def curv_exact(exp) -> bool:
    from ..maths.curvature import exact_applies

    return exact_applies(exp.layer_sizes, len(exp.split.X_train))


def draw_gamma(ax, run, exp, cell: int = 0) -> None:
    """γ against λ for grid cell ``cell``, with the parameter count and the number of training targets."""
    from .style import legend_outside

    first = run.summary
    for key, value in run.manifest["cells"][cell]["axes"].items():
        first = first[first[key].astype(str) == str(value)]
    gamma = first.groupby("lambda")["effective_params"].mean().dropna()  # a λ whose models are not at a minimum:
    lam = gamma.index.to_numpy(dtype=float)  # no γ (l2cli.maths.evidence), and no point
    x = np.where(lam > 0, lam, lam[lam > 0].min() / 10 if (lam > 0).any() else 1.0)
    ax.plot(x, gamma.to_numpy(float), marker="o", ms=3, color="tab:purple", label="effective parameters γ")
    sizes = exp.layer_sizes
    count = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    ax.axhline(count, color="0.5", ls="--", lw=1, label=f"parameters: {count:,}")
    ax.axhline(len(exp.split.X_train) * sizes[-1], color="0.75", ls=":", lw=1,
               label=f"training targets n·K: {len(exp.split.X_train) * sizes[-1]:,}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("λ")
    ax.set_ylabel("γ = tr(A⁻¹κG) (mean over seeds)")
    ax.set_title("effective number of parameters against λ")
    legend_outside(ax, columns=1)
