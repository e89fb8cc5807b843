"""The readiness check as a Dagster job: what the inbox would load and which answers it supports.

The job reads the inbox through the same loader functions as `outcomes check`
(:func:`transforms.readiness.check_inbox`) on a throwaway scratch database and writes the readiness
page into the restricted folder. It never opens the warehouse, so it needs no place in the
warehouse's pool and can run while a load does.
"""

import dagster as dg

from pipelines.resources import OutcomesSettings, WarehouseResource
from transforms.readiness import check_inbox
from transforms.readiness_report import check_lines, write_page


@dg.op(name="check_inbox", description="Check every export of the inbox as a load would (profiles, row rules) and say which answers "
                   "its data supports; writes the readiness page to the restricted folder, never the warehouse.")
def inbox_readiness(
    context: dg.OpExecutionContext, warehouse: WarehouseResource, outcomes_settings: OutcomesSettings
) -> dg.Output[None]:
    """Run the readiness check on the configured inbox (the warehouse resource only supplies its settings)."""
    settings = outcomes_settings.settings(warehouse)
    report = check_inbox(settings)
    page = write_page(report, settings.restricted)
    for line in check_lines(report):
        context.log.info(line)
    return dg.Output(None, metadata={
        "exports": len(report.exports),
        "would_load": sum(1 for c in report.exports if c.would_load),
        "page": dg.MetadataValue.path(str(page)),
        "readiness": dg.MetadataValue.md("\n".join(
            ["| answer | supported | visits | episodes |", "|---|---|---|---|"]
            + [f"| {a.spec.title} | {a.verdict} | {a.visits_with} of {a.visits_total} | "
               f"{a.episodes_with} of {a.episodes_total} |" for a in report.answers])),
    })


@dg.job(name="inbox_readiness", description="Readiness of the inbox: what would load and which answers the data "
                                            "supports (writes the restricted readiness page; never the warehouse).")
def readiness_job() -> None:
    """The readiness check of the inbox, on demand."""
    inbox_readiness()
