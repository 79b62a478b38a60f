"""How a table's columns become the numbers a network reads: imputed, scaled, one-hot encoded.

The recipe is scikit-learn's own: a ColumnTransformer with, for numeric
columns, an optional SimpleImputer and a StandardScaler, and for text columns
an optional SimpleImputer (most frequent value) and a OneHotEncoder
(``handle_unknown="ignore"``: a category first seen in validation or test rows
encodes as all zeros). It is fitted on training rows only, in the split and in
every cross-validation fold, so no statistic of a validation or test row
reaches the model. One-hot columns are named ``column=value``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from ..errors import InputError

#: Magnitudes whose squares float64 holds: values beyond them cannot be standardized (their variance underflows to
#: zero or overflows to infinity, and the column becomes constant or not finite).
SQUARABLE = (1e-150, 1e150)


def check_standardizable(values: np.ndarray, column: str) -> None:
    """An InputError for a column whose spread float64 cannot standardize: its values' variance underflows (a
    column of 1e-300s, whose standardized values would all be 0) or overflows (1e300s)."""
    finite = values[np.isfinite(values)]
    if finite.size < 2 or not np.ptp(finite) > 0:
        return
    with np.errstate(all="ignore"):
        centred = finite - finite.mean()
        spread = float(np.sqrt(np.mean(centred * centred)))
    low, high = SQUARABLE
    size = float(np.max(np.abs(finite)))
    if not np.isfinite(spread) or spread > high or spread < low:
        raise InputError(f"column {column!r}: its values (up to {size:.3g} in size, spread {spread:.3g}) cannot be "
                         f"standardized in float64 (their variance {'underflows' if spread < low else 'overflows'}"
                         f"): rescale it to magnitudes between {low:g} and {high:g}")


def one_hot_name(column: str, category) -> str:
    """The name of a one-hot feature: ``island=Biscoe``."""
    return f"{column}={category}"


@dataclass(frozen=True)
class Recipe:
    """Which columns are numeric and which text, and how missing values are filled (None: there are none)."""

    numeric: tuple[str, ...]
    text: tuple[str, ...]
    impute: str | None  # SimpleImputer strategy for numeric columns; text columns use most_frequent; None: none
    standardize: bool  # data.standardize

    def transformer(self):
        """The unfitted transformer of this recipe (output columns: numeric first, then one-hot): a
        ColumnTransformer, or for numeric columns with nothing to impute the StandardScaler alone (the same
        numbers, bit for bit, without importing sklearn.compose, which loads sklearn.linear_model)."""
        scale = StandardScaler(with_mean=self.standardize, with_std=self.standardize)
        if not self.text and not self.impute:
            return scale
        from sklearn.compose import ColumnTransformer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder

        fill, fill_text = [], []
        if self.impute:  # sklearn.impute loads linear_model, neighbors, …: ~0.1 s of start-up, only when needed
            from sklearn.impute import SimpleImputer

            fill, fill_text = [SimpleImputer(strategy=self.impute)], [SimpleImputer(strategy="most_frequent")]
        encode = OneHotEncoder(handle_unknown="ignore", sparse_output=False, feature_name_combiner=one_hot_name)
        parts = []
        if self.numeric:
            parts.append(("numeric", make_pipeline(*fill, scale), list(self.numeric)))
        if self.text:
            parts.append(("text", make_pipeline(*fill_text, encode), list(self.text)))
        return ColumnTransformer(parts, verbose_feature_names_out=False)

    def fit(self, train: pd.DataFrame):
        """The transformer fitted on the training rows ``train`` (raw columns); a numeric column whose spread
        float64 cannot standardize is refused (check_standardizable)."""
        if self.standardize:
            for column in self.numeric:
                check_standardizable(pd.to_numeric(train[column], errors="coerce").to_numpy(dtype=float), column)
        return self.transformer().fit(train)
