"""λ in other libraries' terms.

l2cli minimizes J = L_data + λ·Σ‖W‖², with L_data the mean of the per-sample
losses (reduction = mean). Other libraries write the same penalty differently:

- PyTorch ``weight_decay`` (SGD, momentum, Adam) adds wd·W to the gradient:
  wd = 2λ, on the weights only (put the biases in a parameter group with
  weight_decay=0). AdamW's decoupled decay is a different rule, not an L2 penalty:
  it is l2cli's ``train.decay = "decoupled"``, with the same wd = 2λ.
- Keras ``kernel_regularizer=l2(l)`` adds l·Σw² to the loss: l = λ.
- scikit-learn's MLP adds (alpha / 2N)·Σ‖W‖² to a loss averaged over N rows,
  where N is the rows of the batch at hand (all n_train rows for lbfgs), and
  its squared error carries a factor ½. So alpha = 2·N·λ (N·λ for regression).
  With mini-batches whose sizes differ (a partial last batch), no single alpha
  is exact; the one below gives the same total shrinkage per epoch:
  alpha = c·λ·n_batches / Σ_k 1/N_k, with c = 2 (classification) or 1 (regression).

With reduction = sum, J = n·(mean form at λ/n): the equivalents are those of
λ/n_train, and the other library's learning rate must be n_train times larger.

Decoupled decay (``train.decay = "decoupled"``) shrinks θ ← (1 − η·2λ)·θ each step
beside an optimizer step on ∂L_data/∂θ. Every library below multiplies its decay
by the learning rate, so each is the same rule at l2cli's own η, whatever the
reduction: ``torch.optim.AdamW(lr=η, weight_decay=2λ)``,
``keras.optimizers.AdamW(learning_rate=η, weight_decay=2λ)``,
``optax.adamw(learning_rate=η, weight_decay=2λ)``, and for momentum SGDW
(Loshchilov & Hutter's Algorithm 1 with α = 1, schedule multiplier η_t = η,
decay 2λ). Plain gd and sgd are the same update under both decays.

Independent decay (``train.decay = "independent"``) shrinks θ ← (1 − λ)·θ each step, whatever η: Loshchilov &
Hutter's Algorithm 2 with a constant schedule multiplier η_t = 1 and decay λ. At one learning rate η it is
decoupled decay at λ/(2η), so ``torch.optim.AdamW(lr=η, weight_decay=λ/η)`` (and optax's and Keras's AdamW
likewise): the same update, but where a sweep over η must move AdamW's weight_decay as 1/η to keep the decay,
l2cli keeps λ.
"""

from __future__ import annotations


def batch_rows(n_train: int, batch_size: int) -> list[int]:
    """Rows of each mini-batch of an epoch; the last one may be partial."""
    batch_size = n_train if batch_size <= 0 else min(batch_size, n_train)
    return [min(batch_size, n_train - s) for s in range(0, n_train, batch_size)]


def sklearn_alpha(lam: float, task: str, n_train: int, batch_size: int) -> float:
    """scikit-learn MLP ``alpha`` with the same penalty shrinkage per epoch as λ (mean reduction)."""
    c = 1.0 if task == "regression" else 2.0  # sklearn's squared error is ½·mean
    rows = batch_rows(n_train, batch_size)
    return c * lam * len(rows) / sum(1.0 / r for r in rows)


#: the decoupled rules of other libraries, by l2cli optimizer: each takes weight_decay = 2λ at learning rate η
DECOUPLED = {"adam": ("torch_adamw_weight_decay", "keras_adamw_weight_decay", "optax_adamw_weight_decay"),
             "momentum": ("sgdw_weight_decay",)}


def equivalents(lam: float, task: str, reduction: str, n_train: int, batch_size: int, decay: str,
                optimizer: str, lr: float | None = None) -> dict[str, float]:
    """Settings of other libraries that give the same objective as λ (see the module docstring), and with
    decay = "decoupled" or "independent" those of the same decoupled update at the run's learning rate ``lr``.

    batch_size: rows per mini-batch of the run (0 or ≥ n_train: full batch).
    """
    mean_lam = lam if reduction == "mean" else lam / n_train
    per_step = {"decoupled": 2.0 * lam, "independent": lam / lr if lr else float("nan")}.get(decay)
    decoupled = {name: per_step for name in DECOUPLED.get(optimizer, ())} if per_step is not None else {}
    if decoupled:
        decoupled["learning_rate"] = lr
    return {
        "lambda": lam,
        "sklearn_alpha_full_batch": sklearn_alpha(mean_lam, task, n_train, 0),
        "sklearn_alpha_this_batch_size": sklearn_alpha(mean_lam, task, n_train, batch_size),
        "torch_weight_decay": 2.0 * mean_lam,
        "keras_l2": mean_lam,
        **decoupled,
    }
