"""The strongest peer a PyTorch user would write for a λ sweep: every model of the sweep in one stack of parameter
tensors, trained together (bench/run.py races it).

The M models' weights are tensors of shape (M, a, b) and their biases (M, 1, b); a layer of all of them is one
``torch.baddbmm`` (the batched product with the bias added in the same call), and autograd takes the gradient of
the sum of the models' mean cross-entropy losses, which is each model's own gradient. The penalty enters as
PyTorch's ``SGD(weight_decay=2λ)`` does, g += 2λ·W on the weights only, per model, and the update is plain SGD,
in place. The same data, the same initial weights (l2cli's own, from its seeds), the same mini-batches (l2cli's
shuffling stream, shared by the models of one seed), the same epochs and learning rate as the l2cli run beside
it: only the engine differs.
"""

from __future__ import annotations

import time

import numpy as np


def torch_batched(exp, lambdas: list[float], seed: int, dtype, threads: int) -> tuple[float, list[float]] | None:
    """(wall seconds, test accuracy per λ) of the batched PyTorch peer on ``threads`` threads, or None without
    PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    from l2cli.maths.network import init_params
    from l2cli.training.train import init_rng, shuffle_rng

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        tdtype = torch.float64 if np.dtype(dtype) == np.float64 else torch.float32
        split, M = exp.split, len(lambdas)
        start = init_params(exp.layer_sizes, [init_rng(seed)] * M, exp.init, np.dtype(dtype))
        Ws = [torch.tensor(W, dtype=tdtype, requires_grad=True) for W in start.W]
        bs = [torch.tensor(b[:, None, :], dtype=tdtype, requires_grad=True) for b in start.b]
        two_lam = torch.tensor(2 * np.asarray(lambdas), dtype=tdtype)[:, None, None]
        X = torch.tensor(split.X_train, dtype=tdtype)
        y = torch.tensor(split.Y_train.argmax(axis=1))
        rows, lr, epochs = exp.schedule.batch_rows(len(X)), exp.schedule.lr, exp.schedule.epochs
        rng = shuffle_rng(seed)
        t = time.perf_counter()
        for _ in range(epochs):
            perm = torch.from_numpy(rng.permutation(len(X)))
            for s in range(0, len(X), rows):
                idx = perm[s:s + rows]
                logits = forward(torch, Ws, bs, X[idx].expand(M, -1, -1))
                loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[idx].repeat(M),
                                                         reduction="sum") / len(idx)
                loss.backward()
                with torch.no_grad():
                    for W in Ws:
                        W.grad.add_(two_lam * W)
                    for p in (*Ws, *bs):
                        p.sub_(lr * p.grad)
                        p.grad = None
        seconds = time.perf_counter() - t
        with torch.no_grad():
            Xt = torch.tensor(split.X_test, dtype=tdtype).expand(M, -1, -1)
            predicted = forward(torch, Ws, bs, Xt).argmax(-1).numpy()
        classes = np.searchsorted(split.classes, split.y_test)
        return seconds, [float(np.mean(predicted[m] == classes)) for m in range(M)]
    finally:
        torch.set_num_threads(previous)


def forward(torch, Ws, bs, H):
    """ReLU layers of all the models at once: H (M, n, a) → logits (M, n, K)."""
    for k, (W, b) in enumerate(zip(Ws, bs, strict=True)):
        H = torch.baddbmm(b, H, W)
        if k < len(Ws) - 1:
            H = torch.relu(H)
    return H
