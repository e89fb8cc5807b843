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
        if f.name != "extra":
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
