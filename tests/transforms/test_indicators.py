"""Indicator columns equal the elementwise comparisons they replace, missing values and look-alike texts included."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from transforms.indicators import indicator_columns

VALUES = st.sampled_from(["a", "b", "None", "nan", "", None, np.nan, 3])


@given(st.lists(VALUES, max_size=40), st.lists(st.sampled_from(["a", "b", "None", "nan", "", "3"]), max_size=5))
def test_indicator_columns_equal_the_elementwise_comparisons(values, levels) -> None:
    column = pd.Series(values, dtype=object)
    got = indicator_columns(column, levels)
    text = indicator_columns(column, levels, as_text=True)
    for level, plain, as_text in zip(levels, got, text, strict=True):
        assert np.array_equal(plain, (column == level).to_numpy(dtype=float)), level
        assert np.array_equal(as_text, (column.astype(str) == level).to_numpy(dtype=float)), level


def test_a_worked_column() -> None:
    column = pd.Series(["F", None, "M", np.nan, "F"], dtype=object)
    f, none = indicator_columns(column, ["F", "None"])
    assert f.tolist() == [1.0, 0.0, 0.0, 0.0, 1.0] and none.tolist() == [0.0] * 5
    none, nan = indicator_columns(column, ["None", "nan"], as_text=True)
    assert none.tolist() == [0.0, 1.0, 0.0, 0.0, 0.0] and nan.tolist() == [0.0, 0.0, 0.0, 1.0, 0.0]
