"""Assets: each fetches its inputs, calls ``transforms/`` (or ``dashboards/``), and writes.

Asset keys mirror warehouse tables: ``raw/exports`` (partitioned by export), ``staging/sessions``,
``staging/rom``, ``marts/*`` and ``site/*``.
"""


import logging
import warnings

import dagster as dg

from dashboards.audit_packet import PACKET_FOLDER, write_audit_packets
from dashboards.html import install_assets
from dashboards.site import PAGE_BUILDERS, PageBuilder, build_definitions_page, build_index_page
from pipelines.partitions import WAREHOUSE_POOL, exports_partitions
from pipelines.resources import OutcomesSettings, WarehouseResource
from transforms.exports import discover_exports
from transforms.loading import LoadOutcome, ensure_schema, load_exports, new_run_id
from transforms.marts import (
    MART_TABLES,
    MODELS,
    MartModel,
    build_model,
    prepare_connection,
    release_connection,
    write_audit_worklists,
)
from transforms.runs import begin_run, finish_run, read_run
from transforms.staging import build_staging

log = logging.getLogger("outcomes")

# `outcomes run` materializes in more than one Dagster run; this tag gives them one pipeline run id.
RUN_TAG = "outcomes/run_id"


def pipeline_run_id(context: dg.AssetExecutionContext) -> str:
    """The pipeline run this step belongs to (``ops.runs``): the CLI's run id, else the Dagster run id."""
    return context.run.tags.get(RUN_TAG) or context.run_id

RAW_EXPORTS = dg.AssetKey(["raw", "exports"])
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


# A single-run backfill (every export partition in one run, one GX pass) is what we want; Dagster
# marks the parameter beta and would print that on every `outcomes` command.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)


@dg.asset(
    key=RAW_EXPORTS,
    partitions_def=exports_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
    check_specs=EXPORT_CHECKS,
    group_name="load",
    kinds={"duckdb", "great_expectations"},
)
def raw_exports(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, outcomes_settings: OutcomesSettings
) -> dg.MaterializeResult:
    """Read, validate (Great Expectations) and load the selected export folders of the inbox.

    One partition per export folder. Valid rows go to ``raw.sessions`` / ``raw.rom``, broken rows
    to ``quarantine.rejected_rows``, every outcome to ``ops.load_log``; each export is its own
    transaction, so a rejected export leaves every table as it was.
    """
    settings = outcomes_settings.settings(warehouse)
    with warehouse.connect() as con:
        ensure_schema(con)
        begin_run(con, pipeline_run_id(context), settings)
    wanted = set(context.partition_keys)
    folders = [e for e in discover_exports(settings.inbox) if e.name in wanted]
    missing = sorted(wanted - {e.name for e in folders})
    for name in missing:
        context.log.warning(f"export {name} is no longer in the inbox {settings.inbox}; its loaded data is kept")
    results = load_exports(
        folders, warehouse.connect, settings, run_id=context.run_id or new_run_id(),
        progress=lambda o: context.log.info(f"{o.export}: {o.status}: {o.reason}"),
    )
    rejected = [o for o in results if o.status == "rejected"]
    counts = {s: sum(1 for o in results if o.status == s) for s in ("loaded", "replaced", "unchanged", "rejected")}
    quarantined = sum(o.rows_quarantined or 0 for o in results if o.status in ("loaded", "replaced"))
    return dg.MaterializeResult(
        metadata={
            **{f"exports_{k}": v for k, v in counts.items()},
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
    pool=WAREHOUSE_POOL,
)
def staging_tables(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, outcomes_settings: OutcomesSettings
):
    """Rebuild ``staging.sessions`` and ``staging.rom`` from ``raw.*`` (metrics.md sections 1-2)."""
    settings = outcomes_settings.settings(warehouse)
    log.info("building staging (episodes, condition groups, session numbers)")
    with warehouse.connect() as con:
        ensure_schema(con)
        begin_run(con, pipeline_run_id(context), settings)
        counts = build_staging(con, settings)
    yield dg.MaterializeResult(asset_key=STAGING_SESSIONS, metadata={"rows": counts["staging.sessions"]})
    yield dg.MaterializeResult(asset_key=STAGING_ROM, metadata={"rows": counts["staging.rom"]})


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
        pool=WAREHOUSE_POOL,
    )
    def _build(warehouse: WarehouseResource, outcomes_settings: OutcomesSettings):
        settings = outcomes_settings.settings(warehouse)
        log.info(f"building {model.name}")
        with warehouse.connect() as con:
            prepare_connection(con, settings)
            try:
                counts = build_model(con, settings, model)
            finally:
                release_connection(con)
        for table in model.tables:
            yield dg.MaterializeResult(asset_key=_mart_key(table), metadata={"rows": counts[table]})

    _build.__doc__ = model.description
    return _build


mart_assets = [_mart_asset(model) for model in MODELS]


AUDIT_WORKLISTS = dg.AssetKey(["restricted", "audit_worklists"])


@dg.asset(key=AUDIT_WORKLISTS, deps=[_mart_key("marts.audit_flags")], group_name="marts", pool=WAREHOUSE_POOL,
          kinds={"csv"})
def audit_worklists(warehouse: WarehouseResource, outcomes_settings: OutcomesSettings) -> dg.MaterializeResult:
    """One CSV per payer type of flagged episodes, written to the restricted folder (never the site)."""
    settings = outcomes_settings.settings(warehouse)
    with warehouse.connect() as con:
        paths = write_audit_worklists(con, settings.restricted / "audit_worklists")
    return dg.MaterializeResult(metadata={"files": [str(p) for p in paths], "folder": str(settings.restricted)})


AUDIT_PACKETS = dg.AssetKey(["restricted", "audit_packets"])


@dg.asset(key=AUDIT_PACKETS, deps=[_mart_key("marts.audit_flags"), _mart_key("marts.audit_episodes")],
          group_name="marts", pool=WAREHOUSE_POOL, kinds={"html", "plotly"})
def audit_packets(warehouse: WarehouseResource, outcomes_settings: OutcomesSettings) -> dg.MaterializeResult:
    """One offline HTML audit packet per payer type, a section per flagged episode with its evidence, written to
    the restricted folder (never the site)."""
    settings = outcomes_settings.settings(warehouse)
    with warehouse.connect() as con:
        paths = write_audit_packets(con, settings.restricted / PACKET_FOLDER, settings, site=settings.site)
    return dg.MaterializeResult(metadata={"files": [str(p) for p in paths], "folder": str(settings.restricted)})


def _page_asset(page: str, builder: PageBuilder) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey(["site", page]),
        deps=[_mart_key(t) for t in MART_TABLES],
        group_name="site",
        pool=WAREHOUSE_POOL,
        kinds={"plotly", "html"},
        description=f"The published {page} page (aggregates only, small cells suppressed).",
    )
    def _page(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, outcomes_settings: OutcomesSettings
    ) -> dg.MaterializeResult:
        settings = outcomes_settings.settings(warehouse)
        settings.site.mkdir(parents=True, exist_ok=True)
        install_assets(settings.site)
        with warehouse.connect() as con:
            path = builder(con, settings.site, settings, read_run(con, pipeline_run_id(context)))
        return dg.MaterializeResult(metadata={"path": str(path), "bytes": path.stat().st_size})

    return _page


site_pages = [_page_asset(page, builder) for page, builder in PAGE_BUILDERS.items()]


@dg.asset(
    key=dg.AssetKey(["site", "index"]),
    deps=[dg.AssetKey(["site", page]) for page in PAGE_BUILDERS],
    group_name="site",
    pool=WAREHOUSE_POOL,
    kinds={"html"},
)
def site_index(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, outcomes_settings: OutcomesSettings
) -> dg.MaterializeResult:
    """The site's ``index.html`` (data period, load status, links, and the run that made the site: its
    exports with checksums, settings and pipeline version) and the definitions page (settings in force).

    Completes the run's row of ``ops.runs``.
    """
    settings = outcomes_settings.settings(warehouse)
    log.info(f"publishing the dashboards to {settings.site}")
    install_assets(settings.site)
    run_id = pipeline_run_id(context)
    with warehouse.connect() as con:
        begin_run(con, run_id, settings)
        finish_run(con, run_id)
        run = read_run(con, run_id)
        build_definitions_page(settings.site, settings, run)
        path = build_index_page(con, settings.site, settings, run)
    return dg.MaterializeResult(metadata={"path": str(path)})
