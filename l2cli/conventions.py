"""λ in other libraries' terms.

l2cli minimizes J = L_data + λ Σ‖W‖² with L_data the mean (or sum) of the
per-sample losses. Other libraries write the same penalty differently:

- scikit-learn MLP: loss/N + (alpha / 2N)·Σ‖W‖², N = rows of the batch the
  gradient is averaged over (n_train for lbfgs, batch_size for sgd/adam), and
  its squared error carries a factor ½. Hence alpha = 2·N·λ for
  classification and N·λ for regression under mean reduction.
- PyTorch SGD/Adam ``weight_decay`` adds wd·W to the gradient: wd = 2λ, on the
  weights only (put the biases in a parameter group with weight_decay=0).
  AdamW's decoupled decay is a different rule, not an L2 penalty.
- Keras ``kernel_regularizer=l2(l)`` adds l·Σw² to the loss: l = λ.
"""

from __future__ import annotations


def equivalents(lam: float, task: str, reduction: str, n_train: int, batch_size: int) -> dict[str, float]:
    """The settings of other libraries that give the same objective (up to a constant factor) as λ."""
    half = 1.0 if task == "regression" else 2.0  # sklearn's squared error is ½·mean
    if reduction == "mean":
        alpha_full, alpha_batch = half * n_train * lam, half * batch_size * lam
    else:  # J = Σℓ + λΩ = N·(mean ℓ + (λ/N)Ω)
        alpha_full = alpha_batch = half * lam
    return {
        "lambda": lam,
        "sklearn_alpha_full_batch": alpha_full,
        "sklearn_alpha_per_batch": alpha_batch,
        "torch_weight_decay": 2.0 * lam,
        "keras_l2": lam,
    }
