"""The user-facing docs stay in step with the code: every rule and every setting is documented."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from expectations.rules import rom_rules, session_rules
from transforms.config import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_row_rule_is_documented() -> None:
    text = (DOCS / "export-contract.md").read_text(encoding="utf-8")
    for rule in [*session_rules(), *rom_rules()]:
        assert f"`{rule.rule}`" in text, rule.name


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for f in fields(Settings):
        assert f"`{f.name}`" in text, f.name


def test_readme_starts_with_the_two_commands() -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    first_screen = readme.split("---")[0]
    commands = [line.strip() for line in first_screen.splitlines() if line.startswith("    ")]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]


def test_every_relative_link_of_the_docs_resolves() -> None:
    pages = [DOCS.parent / "README.md", *sorted(DOCS.glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_every_threshold_of_the_definitions_names_its_setting() -> None:
    """The definitions page follows each "*(setting `name`)*" with the value in force when it differs
    (dashboards/definitions.py): every such mark must name a real setting, and none may be anonymous."""
    text = (DOCS / "metrics.md").read_text(encoding="utf-8")
    names = {f.name for f in fields(Settings)}
    marks = [m for m in re.findall(r"\*\(setting `([a-z_0-9]+)`\)\*", text) if m != "name"]  # the legend
    assert marks and set(marks) <= names, set(marks) - names
    assert "*(setting)*" not in text and "*(settings)*" not in text
    for name in ("recertification_days", "care_after_goal_visits", "progress_note_max_visits", "plateau_window",
                 "follow_up_active_days", "flare_min_points", "ipw_max_weight", "suppression_threshold"):
        assert name in marks, name
