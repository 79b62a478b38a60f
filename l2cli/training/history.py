"""The history of a stack's training: the statistics of every model at the recorded epochs (history.csv), and its
state for a checkpoint."""

from __future__ import annotations

import numpy as np

#: the statistics recorded per model and epoch; with train.history_metrics also each part's accuracy or R²
HISTORY_METRICS = ("train_loss", "test_loss", "val_loss", "penalty", "weight_norm", "objective")
SCORES = tuple(f"{part}_{score}" for score in ("accuracy", "r2") for part in ("train", "test", "val"))


class History:
    """Measurements of (model, epoch) pairs, flattened into columns at the end."""

    def __init__(self):
        self.records: list[tuple[int, np.ndarray, dict[str, np.ndarray]]] = []

    def record(self, epoch: int, models: np.ndarray, stats: dict[str, np.ndarray], rows=slice(None)) -> None:
        nan = np.full(len(models), np.nan)
        names = HISTORY_METRICS + tuple(k for k in SCORES if k in stats)
        self.records.append((epoch, models[rows], {k: stats.get(k, nan)[rows] for k in names}))

    def state_dict(self) -> dict:
        """The records as a few arrays: each record's epoch and size, then its models and metrics, concatenated."""
        if not self.records:
            return {"epochs": [], "sizes": [], "models": None, "stats": {}}
        return {"epochs": [int(e) for e, _, _ in self.records], "sizes": [len(m) for _, m, _ in self.records],
                "models": np.concatenate([m for _, m, _ in self.records]),
                "stats": {name: np.concatenate([stats[name] for _, _, stats in self.records])
                          for name in self.records[0][2]}}

    def load_state_dict(self, state: dict) -> None:
        self.records, at = [], 0
        for epoch, n in zip(state["epochs"], state["sizes"], strict=True):
            stats = {name: np.array(values[at:at + n]) for name, values in state["stats"].items()}
            self.records.append((epoch, np.array(state["models"][at:at + n]), stats))
            at += n

    def columns(self) -> dict[str, np.ndarray]:
        """"model", "epoch", HISTORY_METRICS and the SCORES recorded, sorted by model, then epoch."""
        if not self.records:
            return {}
        model = np.concatenate([models for _, models, _ in self.records])
        epoch = np.concatenate([np.full(len(models), e) for e, models, _ in self.records])
        cols = {"model": model, "epoch": epoch}
        for name in self.records[0][2]:
            cols[name] = np.concatenate([stats[name] for _, _, stats in self.records]).astype(np.float64)
        order = np.lexsort((epoch, model))
        return {k: v[order] for k, v in cols.items()}
