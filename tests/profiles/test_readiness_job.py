"""The readiness check as a Dagster job: it runs on the configured inbox and never opens the warehouse."""

from __future__ import annotations

from pipelines.definitions import defs, resources
from tests.conftest import sessions_series, write_export


def test_the_job_writes_the_page_and_not_the_warehouse(settings) -> None:
    write_export(settings.inbox, "a", sessions_series(3))
    job = defs.resolve_job_def("inbox_readiness")
    result = job.execute_in_process(resources=resources(
        inbox=str(settings.inbox), warehouse=str(settings.warehouse), restricted=str(settings.restricted),
        site=str(settings.site)))
    assert result.success
    output = next(e for e in result.all_events if e.event_type_value == "STEP_OUTPUT")
    metadata = output.event_specific_data.metadata
    assert (metadata["exports"].value, metadata["would_load"].value) == (1, 1)
    assert "| responder rates | too few patients | 3 of 3 | 1 of 1 |" in metadata["readiness"].value
    page = settings.restricted / "readiness" / "index.html"
    assert "would load 3 of 3 rows" in page.read_text()
    assert not settings.warehouse.exists() and not (settings.warehouse.parent / ".scratch").exists()
    # not in the warehouse's single-writer pool: it never writes the warehouse
    assert all(node.definition.pool is None for node in job.graph.nodes)
