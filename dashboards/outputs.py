"""The names of what the dashboards write: the published pages and the restricted packets' folder.

Kept apart from the builders so that Dagster's definitions can name one asset per page without
importing pandas and Plotly: a run with nothing to publish (an unchanged rerun) never loads them.
"""

from __future__ import annotations

# The published pages besides the index and the definitions page, in the site's order
PAGES: tuple[str, ...] = ("director", "researcher", "payer", "quality")
# The audit packets' folder inside the restricted folder
PACKET_FOLDER = "audit_packets"
