"""The fault tests share one clean build: a real `outcomes run` over a tiny inbox of four exports."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.faults.harness import Layout, data_tables, run, tiny_export

EXPORTS = ("a-2026-01", "b-2026-02", "c-2026-03", "d-2026-04")


class CleanBuild:
    """A clean run's folders and its data tables (the reference every faulted warehouse must reach)."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.tables = data_tables(layout.warehouse)

    def copy(self, root: Path) -> Layout:
        """A copy of the built warehouse, site and restricted folder under ``root`` (the inbox is shared)."""
        copy = Layout.under(root, inbox=self.layout.inbox)
        shutil.copytree(self.layout.warehouse.parent, copy.warehouse.parent, symlinks=True)
        return copy


@pytest.fixture(scope="session")
def clean_build(tmp_path_factory: pytest.TempPathFactory) -> CleanBuild:
    """One clean run over the tiny inbox (each export: one clinic, six sessions, one quarantined row)."""
    root = tmp_path_factory.mktemp("clean")
    layout = Layout.under(root)
    for i, name in enumerate(EXPORTS):
        tiny_export(layout.inbox, name, clinic=f"C{i}")
    done = run(layout)
    assert done.proc.returncode == 0, done.output
    return CleanBuild(layout)
