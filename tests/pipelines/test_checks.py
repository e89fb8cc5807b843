"""The integrity checks as Dagster runs them: one step per checked asset, blocking only what is built from it,
each rule with its result even when another cannot be counted, each selectable alone."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

import pipelines.checks as checks
from pipelines.assets import STAGING_SESSIONS
from pipelines.definitions import ALL_ASSETS, ALL_CHECKS, resources
from tests.conftest import sessions_series, write_export
from transforms.integrity import INTEGRITY_RULES

EPISODES = dg.AssetKey(["marts", "episode_outcomes"])
ROM_GAINS = dg.AssetKey(["marts", "rom_gains"])


def _resources(settings) -> dict:
    return resources(inbox=str(settings.inbox), warehouse=str(settings.warehouse), site=str(settings.site),
                     restricted=str(settings.restricted))


def test_every_rule_is_one_check_and_the_checks_of_an_asset_run_in_one_step() -> None:
    keys = [k for c in ALL_CHECKS for k in c.check_keys]
    assert sorted(k.name for k in keys) == sorted(r.name for r in INTEGRITY_RULES)
    assert sorted(c.node_def.name for c in ALL_CHECKS) == [
        "integrity_marts_condition_outcomes", "integrity_marts_episode_outcomes", "integrity_staging_rom",
        "integrity_staging_sessions"]
    descriptions = {spec.name: spec.description for c in ALL_CHECKS for spec in c.check_specs}
    assert descriptions == {r.name: r.description for r in INTEGRITY_RULES}
    assert all(spec.blocking for c in ALL_CHECKS for spec in c.check_specs)


def test_a_failed_check_stops_what_is_built_from_its_asset(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    write_export(settings.inbox, "exp-1", sessions_series(6))
    real = checks.count_result

    def one_broken(con, rule):
        violations, checked = real(con, rule)
        return (1, checked) if rule.name == "session_numbers_contiguous" else (violations, checked)

    monkeypatch.setattr(checks, "count_result", one_broken)
    with dg.instance_for_test() as instance:
        result = dg.materialize([*ALL_ASSETS, *ALL_CHECKS], instance=instance, resources=_resources(settings),
                                raise_on_error=False)
    evaluations = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert evaluations == {"exports_accepted": True, "quarantine_within_limit": True, "session_key_unique": True,
                           "session_numbers_contiguous": False, "rom_rows_match_sessions": True,
                           "no_identifier_values": True}
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert STAGING_SESSIONS in materialized and EPISODES not in materialized
    assert not result.success
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        recorded = con.execute("SELECT rule, rows_failing FROM ops.check_results WHERE check_kind = 'integrity' "
                               "ORDER BY rule").fetchall()
    assert recorded == [("no_identifier_values", 0), ("rom_rows_match_sessions", 0), ("session_key_unique", 0),
                        ("session_numbers_contiguous", 1)]


def test_one_check_can_run_alone(settings) -> None:
    write_export(settings.inbox, "exp-1", sessions_series(6))
    with dg.instance_for_test() as instance:
        assert dg.materialize([*ALL_ASSETS, *ALL_CHECKS], instance=instance, resources=_resources(settings)).success
        alone = dg.AssetCheckKey(STAGING_SESSIONS, "session_key_unique")
        result = dg.materialize([*ALL_ASSETS, *ALL_CHECKS], instance=instance, resources=_resources(settings),
                                selection=dg.AssetSelection.checks(alone))
    assert result.success
    assert [(c.check_name, c.passed) for c in result.get_asset_check_evaluations()] == [("session_key_unique", True)]


def _fail(monkeypatch: pytest.MonkeyPatch, rule_name: str, how: str) -> None:
    real = checks.count_result

    def counted(con, rule):
        violations, checked = real(con, rule)
        if rule.name != rule_name:
            return violations, checked
        if how == "raise":
            raise RuntimeError(f"{rule_name} could not be counted")
        return 1, checked

    monkeypatch.setattr(checks, "count_result", counted)


def test_a_failed_rom_check_stops_only_what_is_built_from_the_rom(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    write_export(settings.inbox, "exp-1", sessions_series(6))
    _fail(monkeypatch, "rom_rows_match_sessions", "violate")
    with dg.instance_for_test() as instance:
        result = dg.materialize([*ALL_ASSETS, *ALL_CHECKS], instance=instance, resources=_resources(settings),
                                raise_on_error=False)
    assert {c.check_name: c.passed for c in result.get_asset_check_evaluations()}["rom_rows_match_sessions"] is False
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert EPISODES in materialized and ROM_GAINS not in materialized


def test_a_rule_that_cannot_be_counted_leaves_the_others_their_results(settings,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    write_export(settings.inbox, "exp-1", sessions_series(6))
    _fail(monkeypatch, "session_key_unique", "raise")
    with dg.instance_for_test() as instance:
        result = dg.materialize([*ALL_ASSETS, *ALL_CHECKS], instance=instance, resources=_resources(settings),
                                raise_on_error=False)
    evaluations = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert evaluations["no_identifier_values"] is True and evaluations["session_numbers_contiguous"] is True
    assert "session_key_unique" not in evaluations
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_key == "integrity_staging_sessions"
    assert "session_key_unique could not be counted" in failure.step_failure_data.error.to_string()


def test_outcomes_run_names_the_failed_check(settings, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.cli import main

    write_export(settings.inbox, "exp-1", sessions_series(6))
    _fail(monkeypatch, "session_numbers_contiguous", "violate")
    args = ["run", *[a for k in ("inbox", "warehouse", "site", "restricted") for a in (f"--{k}",
                                                                                      str(getattr(settings, k)))]]
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == (
        "outcomes: building tables failed in step integrity_staging_sessions: "
        "1 blocking asset check failed with ERROR severity: session_numbers_contiguous")
