"""Reference tables: the shipped CSVs, and a ``reference_dir`` whose CSVs replace them by file name."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.conftest import session, write_export
from transforms.reference import (
    REFERENCE_DIR,
    REFERENCE_TABLES,
    ensure_reference_tables,
    install_reference_tables,
    instruments,
    read_reference,
    reference_digest,
    reference_path,
)


def _copy_with(folder: Path, filename: str, extra: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = (REFERENCE_DIR / filename).read_text(encoding="utf-8")
    (folder / filename).write_text(text.rstrip("\n") + "\n" + extra, encoding="utf-8")
    return folder


def test_every_table_is_shipped_with_its_columns() -> None:
    for table, (filename, columns) in REFERENCE_TABLES.items():
        assert reference_path(table) == REFERENCE_DIR / filename
        rows = read_reference(table)
        assert rows and set(columns) <= set(rows[0]), table


def test_an_override_replaces_only_the_tables_it_has(tmp_path: Path) -> None:
    folder = _copy_with(tmp_path / "mine", "condition_groups.csv", "M62.83,myofascial_pain\n")
    assert reference_path("condition_prefixes", folder) == folder / "condition_groups.csv"
    assert reference_path("instruments", folder) == REFERENCE_DIR / "instruments.csv"
    assert {"prefix": "M62.83", "condition_group": "myofascial_pain"} in read_reference("condition_prefixes", folder)
    con = duckdb.connect()
    install_reference_tables(con, reference_dir=folder)
    assert con.execute("SELECT condition_group FROM ref.condition_prefixes WHERE prefix = 'M62.83'").fetchall() == [
        ("myofascial_pain",)]
    assert con.execute("SELECT count(*) FROM ref.instruments").fetchall()[0][0] == len(read_reference("instruments"))
    install_reference_tables(con)  # without the override: the shipped table again
    assert con.execute("SELECT count(*) FROM ref.condition_prefixes WHERE prefix = 'M62.83'").fetchall()[0][0] == 0


def test_cached_readers_follow_the_override(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    text = (REFERENCE_DIR / "instruments.csv").read_text(encoding="utf-8").replace("ODI,0,100,worse,10,",
                                                                                   "ODI,0,100,worse,12,")
    (folder / "instruments.csv").write_text("\ufeff" + text, encoding="utf-8")  # a BOM is tolerated
    assert instruments(folder)["ODI"].mcid == 12.0
    assert instruments()["ODI"].mcid == 10.0


def test_an_override_must_be_a_folder_with_complete_tables(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not a folder"):
        read_reference("instruments", tmp_path / "nowhere")
    (tmp_path / "rom_normals.csv").write_text("joint,movement,normal\nknee,flexion,135\n", encoding="utf-8")
    with pytest.raises(ValueError, match="lacks the column"):
        install_reference_tables(duckdb.connect(), reference_dir=tmp_path)
    (tmp_path / "rom_normals.csv").unlink()
    (tmp_path / "audit_payer_rules.csv").write_text("flag,payer_type,applies\nPLATEAU,self_pay,maybe\n",
                                                    encoding="utf-8")
    with pytest.raises(ValueError, match="'maybe' is not a boolean"):
        install_reference_tables(duckdb.connect(), reference_dir=tmp_path)


def test_staging_uses_the_override(settings, load, tmp_path: Path) -> None:
    """An ICD-10 code the shipped table leaves in 'other' is grouped by the clinic's own table."""
    write_export(settings.inbox, "e1", [session(condition_code="M62.830")])
    load()
    with duckdb.connect(str(settings.warehouse)) as con:
        assert con.execute("SELECT condition_group FROM staging.sessions").fetchall() == [("other",)]
    folder = _copy_with(tmp_path / "mine", "condition_groups.csv", "M62.83,myofascial_pain\n")
    load(reference_dir=str(folder))
    with duckdb.connect(str(settings.warehouse)) as con:
        assert con.execute("SELECT condition_group FROM staging.sessions").fetchall() == [("myofascial_pain",)]


def test_a_warehouse_installs_the_tables_only_when_they_changed(tmp_path: Path) -> None:
    from transforms.loading import ensure_schema

    con = duckdb.connect()
    ensure_schema(con)
    assert ensure_reference_tables(con) is True
    assert ensure_reference_tables(con) is False  # the same tables: nothing written
    folder = tmp_path / "reference"
    folder.mkdir()
    (folder / "instruments.csv").write_text((REFERENCE_DIR / "instruments.csv").read_text(encoding="utf-8")
                                            .replace("ODI,0,100,worse,10,", "ODI,0,100,worse,12,"), encoding="utf-8")
    assert reference_digest(folder) != reference_digest()
    assert ensure_reference_tables(con, reference_dir=folder) is True
    assert con.execute("SELECT mcid FROM ref.instruments WHERE instrument = 'ODI'").fetchall() == [(12.0,)]
    assert ensure_reference_tables(con, reference_dir=folder) is False
    assert ensure_reference_tables(con) is True  # back to the shipped tables
    con.execute("DROP TABLE ref.rom_normals")
    assert ensure_reference_tables(con) is True  # a missing table is installed again
    assert con.execute("SELECT count(*) FROM ref.rom_normals").fetchall()[0][0] > 10
    bare = duckdb.connect()  # no ops.build_state: always installed
    assert ensure_reference_tables(bare) is True and ensure_reference_tables(bare) is True
