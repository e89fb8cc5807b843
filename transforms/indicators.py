"""Indicator (dummy) columns of a categorical covariate, for the case-mix and follow-up model designs.

A design has one 0/1 column per non-reference level of each categorical covariate. Comparing a
column of strings with each level in turn costs a pass of Python string comparisons per level
(seconds for a million rows and a few dozen levels); here the column is factorised once and each
level's column compares integer codes. The columns are exactly those of the elementwise comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas is imported where it is used: Dagster's start-up does not need it
    import pandas as pd


def indicator_columns(values: pd.Series, levels: Sequence[str], *, as_text: bool = False) -> list[np.ndarray]:
    """One float column per level: 1.0 where the value equals the level, else 0.0.

    ``as_text``: compare ``str(value)`` instead of the value (a missing value is then the text of
    the missing marker, e.g. ``'None'``, as ``values.astype(str) == level`` has it); otherwise a
    missing value equals no level.
    """
    import pandas as pd

    codes, uniques = pd.factorize(values, use_na_sentinel=True)  # a missing value gets code -1
    names = [str(u) for u in uniques] if as_text else list(uniques)
    missing = np.flatnonzero(codes == -1) if as_text else np.empty(0, dtype=int)
    # factorize merges None and NaN; their texts differ ('None', 'nan'), so the few missing rows are
    # written out one by one
    missing_text = values.iloc[missing].astype(str).to_numpy() if len(missing) else np.empty(0, dtype=object)
    columns = []
    for level in levels:
        matching = [i for i, name in enumerate(names) if isinstance(name, str) and name == level]
        column = np.isin(codes, matching).astype(float)
        column[missing[missing_text == level]] = 1.0
        columns.append(column)
    return columns
