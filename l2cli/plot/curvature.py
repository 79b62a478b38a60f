"""The curvature panel of ``l2cli plot``: why L2 works, inside the model.

Left: for a few λ across the grid, the eigenvalues h_i of the Gauss–Newton matrix's block of the penalized
weights (l2cli.maths.curvature), sorted, with the shrinkage factor h/(h + 2λ) of each direction over them: the
directions the data pin down (large h) keep their component, the flat ones are shrunk to zero. Right: the effective
number of parameters γ = tr(A⁻¹κG) (l2cli.maths.evidence) against λ, mean over seeds, beside the
network's parameter count.
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps


def draw_curvature(axes, run, reloaded, lambdas: list[float], seed: int | None, most: int = 3) -> None:
    """The two axes of the panel (see the module docstring), for the first grid cell."""
    from ..sweeps.diagnostics import model_curvature
    from ..tools.reload import model_params, model_row

    ax_spectrum, ax_gamma = axes
    exp = reloaded.experiments[0]
    cell = run.manifest["cells"][0]["axes"]
    positive = [lam for lam in lambdas if lam > 0]
    chosen = [positive[i] for i in sorted(set(np.linspace(0, len(positive) - 1, min(most, len(positive)))
                                               .round().astype(int)))]
    cmap = colormaps["viridis"]
    shrink = ax_spectrum.twinx()
    skipped = []
    for k, lam in enumerate(chosen):
        params = model_params(run, model_row(run, lam, seed, cell))
        if not all(np.isfinite(a).all() for a in (*params.W, *params.b)):  # a diverged model: no curvature
            skipped.append(f"{lam:g}")
            continue
        curv = model_curvature(exp, params, "exact" if curv_exact(exp) else "lanczos", lam)
        h = np.sort(curv.h[curv.h > 1e-12 * curv.h.max()])[::-1]  # below: round-off, not curvature
        color = cmap(k / max(len(chosen) - 1, 1))
        rank = np.arange(1, len(h) + 1)
        ax_spectrum.plot(rank, h, color=color, lw=1.2, label=f"eigenvalues h at λ = {lam:g}")
        shrink.plot(rank, h / (h + 2 * lam), color=color, ls=":", lw=1.2)
        shrink.axhline(0.5, color="0.85", lw=0.6)
    ax_spectrum.set_yscale("log")
    ax_spectrum.set_xscale("log")
    ax_spectrum.set_xlabel("direction i (sorted by curvature)")
    ax_spectrum.set_ylabel("eigenvalue h_i of G (solid)")
    shrink.set_ylabel("shrinkage h/(h + 2λ) (dotted)")
    shrink.set_ylim(0, 1.05)
    ax_spectrum.set_title("curvature: what L2 keeps and what it shrinks")
    if skipped:
        ax_spectrum.text(0.98, 0.02, f"not drawn (weights not finite): λ = {', '.join(skipped)}", fontsize=7,
                         ha="right", va="bottom", transform=ax_spectrum.transAxes)
    if len(skipped) < len(chosen):
        ax_spectrum.legend(fontsize=7, loc="lower left")
    draw_gamma(ax_gamma, run, exp)


def curv_exact(exp) -> bool:
    from ..maths.curvature import exact_applies

    return exact_applies(exp.layer_sizes, len(exp.split.X_train))


def draw_gamma(ax, run, exp) -> None:
    summary = run.summary
    first = summary
    for key, value in run.manifest["cells"][0]["axes"].items():
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
    ax.legend(fontsize=7)
