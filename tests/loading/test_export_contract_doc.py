"""docs/export-contract.md stands alone: every column, type, allowed value and reference range is on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from transforms import contract
from transforms.reference import read_reference

DOC = (Path(__file__).resolve().parents[2] / "docs" / "export-contract.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("column", [*contract.SESSION_COLUMNS, *contract.ROM_COLUMNS])
def test_every_column_has_a_row(column) -> None:
    assert f"\n| `{column}` |" in DOC


VOCABULARIES = [
    *contract.VISIT_TYPES, *contract.REFERRAL_SOURCES, *contract.PAYER_TYPES, *contract.TECHNIQUES,
    *contract.FUNCTION_INSTRUMENTS, *contract.AGE_BANDS, *contract.SEXES, *contract.BOOLEAN_TRUE,
    *contract.BOOLEAN_FALSE, *contract.JOINTS, *contract.MOVEMENTS, *contract.SIDES, *contract.TIMINGS,
]


@pytest.mark.parametrize("value", VOCABULARIES)
def test_every_allowed_value_is_listed(value) -> None:
    assert f"`{value}`" in DOC


def test_instrument_ranges_and_rom_maxima_match_the_shipped_reference() -> None:
    for row in read_reference("instruments"):
        assert f"| `{row['instrument']}` | {float(row['score_min']):g} | {float(row['score_max']):g} |" in DOC, row
    for row in read_reference("rom_normals"):
        assert f"`{row['movement']}` {float(row['plausible_max']):g}" in DOC, row


def test_it_does_not_defer_to_a_file_outside_the_project() -> None:
    assert "export-format.md" not in DOC and "../shared" not in DOC
