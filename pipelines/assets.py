"""Assets: each fetches its inputs, calls ``transforms/`` (or ``dashboards/``), and writes.

Asset keys mirror warehouse tables: ``raw/exports``, ``staging/sessions``, ``staging/rom``,
``intermediate/*``, ``marts/*``, ``restricted/*`` and ``site/*``.

Every asset does only the work that is due (:mod:`transforms.changes`): loading skips unchanged
exports; staging restages the patients the new, replaced or superseding exports touch (or
everything after a change of settings, reference tables or code); each mart model rebuilds its
dirty episodes and then its aggregates; pages and restricted outputs are rewritten only when what
they show changed. A step with nothing to do says so in its metadata (``rebuilt: false``).
"""


import logging

import dagster as dg

from dashboards.outputs import PACKET_FOLDER, PAGES
from pipelines.resources import OutcomesSettings, WarehouseResource
from transforms import changes
from transforms.exports import discover_exports, ignored_entries
from transforms.integrity import PER_CLINIC_TARGETS
from transforms.loading import LoadOutcome, ensure_schema, load_exports, record_ignored
from transforms.marts import (
    AGGREGATE_MODELS,
    EPISODE_MODELS,
    MART_TABLES,
    MODELS,
    MartModel,
    build_model,
    prepare_connection,
    release_connection,
    write_audit_worklists,
)
from transforms.runs import begin_run, finish_run, read_run

log = logging.getLogger("outcomes")

# `outcomes run` materializes in more than one Dagster run; this tag gives them one pipeline run id.
RUN_TAG = "outcomes/run_id"


def pipeline_run_id(context: dg.AssetExecutionContext) -> str:
    """The pipeline run this step belongs to (``ops.runs``): the CLI's run id, else the Dagster run id."""
    return context.run.tags.get(RUN_TAG) or context.run_id


RAW_EXPORTS = dg.AssetKey(["raw", "exports"])
# Targets of the dirty set besides the mart models: the pages and the restricted outputs.
PAGE_TARGETS = {page: f"page:{page}" for page in (*PAGES, "index")}
AUDIT_TARGET = "restricted:audit"
LOAD_STATE_TARGETS = (PAGE_TARGETS["quality"], PAGE_TARGETS["index"])
STAGING_SESSIONS = dg.AssetKey(["staging", "sessions"])
STAGING_ROM = dg.AssetKey(["staging", "rom"])

EXPORT_CHECKS = [
    dg.AssetCheckSpec(
        "exports_accepted", asset=RAW_EXPORTS,
        description="Every export of the run was accepted (not rejected whole); rejections are listed with their reason.",
    ),
    dg.AssetCheckSpec(
        "quarantine_within_limit", asset=RAW_EXPORTS,
        description="No accepted export has more quarantined rows than the allowed share.",
    ),
]


def _outcome_table(outcomes: list[LoadOutcome]) -> str:
    lines = ["| export | status | rows in | loaded | quarantined | reason |", "|---|---|---|---|---|---|"]
    for o in outcomes:
        reason = o.reason.replace("|", "/")
        lines.append(
            f"| {o.export} | {o.status} | {o.rows_in or ''} | {o.rows_loaded or ''} | {o.rows_quarantined or ''} | {reason} |"
        )
    return "\n".join(lines)


@dg.asset(
    key=RAW_EXPORTS,
    check_specs=EXPORT_CHECKS,
    group_name="load",
    kinds={"duckdb", "great_expectations"},
)
def raw_exports(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, outcomes_settings: OutcomesSettings
) -> dg.MaterializeResult:
    """Read, validate (Great Expectations) and load every new or changed export folder of the inbox.

    Unchanged exports (same checksum) are only noted. Valid rows go to ``raw.sessions`` /
    ``raw.rom``, broken rows to ``quarantine.rejected_rows``, every outcome to ``ops.load_log``; each
    export is its own transaction, so a rejected export leaves every table as it was.
    """
    settings = outcomes_settings.settings(warehouse)
    run_id = pipeline_run_id(context)
    with warehouse.connect() as con:
        ensure_schema(con)
        begin_run(con, run_id, settings)
        ignored = ignored_entries(settings.inbox)
        if ignored:
            record_ignored(con, run_id, ignored)
    results = load_exports(discover_exports(settings.inbox), warehouse.connect, settings, run_id=run_id)
    # Each log line is an event in Dagster's storage: the outcomes go to the metadata table below, and
    # only a few that need attention (rejections) to the log.
    for outcome in [o for o in results if o.status == "rejected"][:20]:
        context.log.warning(f"{outcome.export}: rejected: {outcome.reason}")
    if any(o.status != "unchanged" for o in results):
        with warehouse.connect() as con:
            changes.mark_full(con, LOAD_STATE_TARGETS)  # the quality page and the index show the load state
    rejected = [o for o in results if o.status == "rejected"]
    counts = {s: sum(1 for o in results if o.status == s) for s in ("loaded", "replaced", "unchanged", "rejected")}
    quarantined = sum(o.rows_quarantined or 0 for o in results if o.status in ("loaded", "replaced"))
    return dg.MaterializeResult(
        metadata={
            **{f"exports_{k}": v for k, v in counts.items()},
            "exports_ignored": len(ignored),
            "rows_quarantined": quarantined,
            "outcomes": dg.MetadataValue.md(_outcome_table(results)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="exports_accepted",
                passed=not rejected,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"rejected": dg.MetadataValue.md(_outcome_table(rejected) if rejected else "none")},
            ),
            dg.AssetCheckResult(
                check_name="quarantine_within_limit",
                passed=all(o.status != "rejected" or o.rows_quarantined is None for o in results),
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"rows_quarantined": quarantined, "allowed_share": float(settings.reject_share)},
            ),
        ],
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(STAGING_SESSIONS, deps=[RAW_EXPORTS], group_name="staging", kinds={"duckdb"},
                     description="Latest version of every valid session, with condition group, episode and session number."),
        dg.AssetSpec(STAGING_ROM, deps=[RAW_EXPORTS], group_name="staging", kinds={"duckdb"},
                     description="Valid range-of-motion rows of the sessions in staging.sessions, from the same export."),
    ],
    config_schema={"full": dg.Field(bool, default_value=False,
                                    description="rebuild staging, every mart and every page from scratch")},
)
def staging_tables(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, outcomes_settings: OutcomesSettings
):
    """Bring ``staging.sessions`` and ``staging.rom`` up to date with ``raw.*`` (metrics.md sections 1-2).

    Restages only the patients that new, replaced or superseding exports touch (all of them after a
    change of settings, reference tables or code, or with ``full``) and records what the marts,
    pages and restricted outputs must rebuild.
    """
    settings = outcomes_settings.settings(warehouse)
    with warehouse.connect() as con:
        ensure_schema(con)
        begin_run(con, pipeline_run_id(context), settings)
        # The audit packets come per clinic: only the clinics of the restaged patients are rewritten (a
        # clinic's statuses move only with its own data end, so that covers them too).
        change = changes.stage(con, settings, EPISODE_MODELS, [*AGGREGATE_MODELS, *PAGE_TARGETS.values()],
                               force_full=bool(context.op_execution_context.op_config.get("full")),
                               clinic_targets=[AUDIT_TARGET, *PER_CLINIC_TARGETS])
    if change.action == changes.FULL:
        log.info("built staging in full (episodes, condition groups, session numbers)")
    elif change.action == changes.SCOPED:
        log.info(f"restaged {change.patients} patient(s) touched by {len(change.exports)} new or changed export(s)")
    meta = {"action": change.action, "rebuilt": change.action != changes.CLEAN, "exports": list(change.exports),
            "patients_restaged": change.patients, "episodes_to_rebuild": change.episodes}
    yield dg.MaterializeResult(asset_key=STAGING_SESSIONS, metadata={**meta, "rows": change.sessions or 0})
    yield dg.MaterializeResult(asset_key=STAGING_ROM, metadata={**meta, "rows": change.rom or 0})


def _mart_key(table: str) -> dg.AssetKey:
    schema, name = table.split(".")
    return dg.AssetKey([schema, name])


def _mart_asset(model: MartModel) -> dg.AssetsDefinition:
    """One asset per mart model: its tables as asset keys, its inputs as real dependencies."""

    @dg.multi_asset(
        name=f"marts_{model.name}",
        specs=[
            dg.AssetSpec(_mart_key(table), deps=[_mart_key(t) for t in model.reads], group_name="marts",
                         kinds={"duckdb"}, description=model.description)
            for table in model.tables
        ],
    )
    def _build(warehouse: WarehouseResource, outcomes_settings: OutcomesSettings):
        settings = outcomes_settings.settings(warehouse)
        with warehouse.connect() as con:
            state = changes.pending(con, model.name)
            if state != changes.CLEAN:
                log.info(f"building {model.name}" + (" (changed episodes)" if state == changes.SCOPED else ""))
                prepare_connection(con, settings)
                try:
                    counts = build_model(con, settings, model, incremental=True)
                finally:
                    release_connection(con)
                if model.name == "audit" and state == changes.FULL:
                    changes.mark_full(con, [AUDIT_TARGET])
            else:
                counts = {}
        for table in model.tables:
            meta = {"rebuilt": table in counts, "action": state}
            if table in counts:
                meta["rows_written"] = counts[table]
            yield dg.MaterializeResult(asset_key=_mart_key(table), metadata=meta)

    _build.__doc__ = model.description
    return _build


mart_assets = [_mart_asset(model) for model in MODELS]


AUDIT_WORKLISTS = dg.AssetKey(["restricted", "audit_worklists"])


def _restricted_due(con, folder) -> bool:
    """The restricted audit outputs are rewritten when the audit changed, or when their folder is gone."""
    return changes.pending_clinics(con, AUDIT_TARGET)[0] != changes.CLEAN or not folder.is_dir()


@dg.asset(key=AUDIT_WORKLISTS, deps=[_mart_key("marts.audit_flags")], group_name="marts", kinds={"csv"})
def audit_worklists(warehouse: WarehouseResource, outcomes_settings: OutcomesSettings) -> dg.MaterializeResult:
    """One CSV per payer type of flagged episodes, written to the restricted folder (never the site)."""
    settings = outcomes_settings.settings(warehouse)
    folder = settings.restricted / "audit_worklists"
    with warehouse.connect() as con:
        if not _restricted_due(con, folder):
            return dg.MaterializeResult(metadata={"rebuilt": False, "folder": str(folder)})
        paths = write_audit_worklists(con, folder)
    return dg.MaterializeResult(metadata={"rebuilt": True, "files": [str(p) for p in paths],
                                          "folder": str(settings.restricted)})


AUDIT_PACKETS = dg.AssetKey(["restricted", "audit_packets"])


@dg.asset(key=AUDIT_PACKETS, deps=[AUDIT_WORKLISTS, _mart_key("marts.audit_episodes")], group_name="marts",
          kinds={"html", "plotly"})
def audit_packets(warehouse: WarehouseResource, outcomes_settings: OutcomesSettings) -> dg.MaterializeResult:
    """Offline HTML audit packets per payer type and clinic, a section per flagged episode with its evidence,
    and an index per payer type, written to the restricted folder (never the site). Rewrites only the
    packets of the clinics whose episodes changed. Runs after the worklists, and clears the audit's dirty
    mark."""
    settings = outcomes_settings.settings(warehouse)
    folder = settings.restricted / PACKET_FOLDER
    with warehouse.connect() as con:
        if not _restricted_due(con, folder):
            return dg.MaterializeResult(metadata={"rebuilt": False, "folder": str(folder)})
        state, clinics = changes.pending_clinics(con, AUDIT_TARGET)
        scoped = state == changes.SCOPED and folder.is_dir()
        from dashboards.audit_packet import write_audit_packets  # pandas and Plotly: only when due

        paths = write_audit_packets(con, folder, settings, site=settings.site, clinics=clinics if scoped else None)
        changes.clear(con, AUDIT_TARGET)
    return dg.MaterializeResult(metadata={"rebuilt": True, "action": changes.SCOPED if scoped else changes.FULL,
                                          "clinics": clinics if scoped else "all", "pages_written": len(paths),
                                          "folder": str(folder)})


def _page_asset(page: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey(["site", page]),
        deps=[_mart_key(t) for t in MART_TABLES],
        group_name="site",
        kinds={"plotly", "html"},
        description=f"The published {page} page (aggregates only, small cells suppressed).",
    )
    def _page(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, outcomes_settings: OutcomesSettings
    ) -> dg.MaterializeResult:
        settings = outcomes_settings.settings(warehouse)
        target = settings.site / f"{page}.html"
        with warehouse.connect() as con:
            if changes.pending(con, PAGE_TARGETS[page]) == changes.CLEAN and target.exists():
                return dg.MaterializeResult(metadata={"rebuilt": False, "path": str(target)})
            # the builders import pandas and Plotly, which an unchanged rerun never needs
            from dashboards.html import install_assets
            from dashboards.site import PAGE_BUILDERS

            settings.site.mkdir(parents=True, exist_ok=True)
            install_assets(settings.site)
            path = PAGE_BUILDERS[page](con, settings.site, settings, read_run(con, pipeline_run_id(context)))
            changes.clear(con, PAGE_TARGETS[page])
        return dg.MaterializeResult(metadata={"rebuilt": True, "path": str(path), "bytes": path.stat().st_size})

    return _page


site_pages = [_page_asset(page) for page in PAGES]


@dg.asset(
    key=dg.AssetKey(["site", "index"]),
    deps=[dg.AssetKey(["site", page]) for page in PAGES],
    group_name="site",
    kinds={"html"},
)
def site_index(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, outcomes_settings: OutcomesSettings
) -> dg.MaterializeResult:
    """The site's ``index.html`` (data period, load status, links, and the run that made the site: its
    exports with checksums, settings and pipeline version) and the definitions page (settings in force).

    Completes the run's row of ``ops.runs``; rewrites the two pages only when something changed.
    """
    settings = outcomes_settings.settings(warehouse)
    run_id = pipeline_run_id(context)
    index = settings.site / "index.html"
    with warehouse.connect() as con:
        begin_run(con, run_id, settings)
        finish_run(con, run_id)
        if changes.pending(con, PAGE_TARGETS["index"]) == changes.CLEAN and index.exists() \
                and (settings.site / "definitions.html").exists():
            return dg.MaterializeResult(metadata={"rebuilt": False, "path": str(index)})
        log.info(f"publishing the dashboards to {settings.site}")
        from dashboards.html import install_assets
        from dashboards.site import build_definitions_page, build_index_page

        install_assets(settings.site)
        run = read_run(con, run_id)
        build_definitions_page(settings.site, settings, run)
        path = build_index_page(con, settings.site, settings, run)
        changes.clear(con, PAGE_TARGETS["index"])
    return dg.MaterializeResult(metadata={"rebuilt": True, "path": str(path)})
