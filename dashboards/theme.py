"""Colours, labels, number formats and the shared Plotly layout of every page.

One colour per condition group everywhere: the palette is assigned in the order of
:func:`transforms.reference.condition_groups`, so "Neck pain" has the same colour on the director's
and the researcher's page, in every chart.
"""

from __future__ import annotations

import functools
import json

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from transforms.reference import condition_groups

# 20 distinguishable colours (Tableau 10 + darker/lighter companions), one per condition group.
_PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
    "#2f4b7c", "#a05195", "#d45087", "#665191", "#003f5c", "#7a9e3b", "#c49c00", "#1b9e77", "#d95f02",
    "#7570b3", "#8c8c8c",
)
ALL_COLOUR = "#1d2630"
ACCENT = "#0b6e99"
ACCENT_LIGHT = "#9ecae1"
MUTED = "#9aa5b1"
GOOD = "#1b7f3b"
WARN = "#b35c00"
CLINIC_PALETTE = ("#0b6e99", "#e07b39", "#5b8c3a", "#8e5ea2", "#c44e52", "#3d9a9a", "#a67c00", "#5d6d7e")
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"

_LABELS = {"all": "All conditions", "tmj_disorder": "TMJ disorder", "post_surgical": "Post-surgical",
           "sprain_strain": "Sprain / strain", "other": "Other conditions"}


def condition_colour(group: str) -> str:
    """The colour of a condition group, the same on every page (``all`` is near-black)."""
    if group == "all":
        return ALL_COLOUR
    groups = condition_groups()
    return _PALETTE[groups.index(group) % len(_PALETTE)] if group in groups else MUTED


def condition_label(group: str) -> str:
    """Readable label of a condition group (``low_back_pain`` -> ``Low back pain``)."""
    return _LABELS.get(group, group.replace("_", " ").capitalize())


def condition_order(groups: list[str]) -> list[str]:
    """Groups in reference order (the order of :func:`condition_groups`), ``all`` last."""
    ref = {g: i for i, g in enumerate(condition_groups())}
    return sorted(groups, key=lambda g: (g == "all", ref.get(g, len(ref)), g))


def clinic_label(clinic: str) -> str:
    """``Clinic north`` for the clinic id ``north``; ids that already say "clinic" are kept as they are."""
    text = str(clinic)
    return text if text.lower().startswith("clinic") else f"Clinic {text}"


def clinic_colour(clinics: list[str], clinic: str) -> str:
    """A colour per clinic, by the clinic's position in the sorted list of clinics."""
    ordered = sorted(clinics)
    return CLINIC_PALETTE[ordered.index(clinic) % len(CLINIC_PALETTE)] if clinic in ordered else MUTED


def rgba(hex_colour: str, alpha: float) -> str:
    """``#rrggbb`` as an ``rgba()`` string with the given opacity."""
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def is_missing(value: object) -> bool:
    """True for None, NaN and pandas' NA (suppressed or not computable)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def optional_float(value: object) -> float | None:
    """A plot coordinate: None where the value is missing (Plotly leaves a gap), else the float."""
    return None if is_missing(value) else float(value)  # type: ignore[arg-type]


def condition_menu(data: list[dict], layout: dict, title: str, subtitle: str, menu: dict, pad_bottom: int,
                   margin: dict) -> dict:
    """Finish a figure whose traces belong to conditions: a drop-down shows one condition at a time.

    ``data`` holds the traces (dictionaries; each one's visibility is set here) and ``layout`` the layout
    to finish (returned styled). ``menu`` holds ``groups`` (menu order, the first shown), ``owners`` (the
    condition of each trace, in trace order), ``shapes`` (reference lines per condition, replacing any
    shapes of ``layout``) and ``heights`` (the height each condition needs). The figure takes the tallest
    height so the page keeps its layout when the menu changes.
    """
    groups, owners, shapes = menu["groups"], menu["owners"], menu["shapes"]
    first = groups[0]
    for trace, group in zip(data, owners, strict=True):
        trace["visible"] = group == first
    buttons = [{"label": condition_label(g), "method": "update",
                "args": [{"visible": [o == g for o in owners]}, {"shapes": shapes[g]}]}
               for g in groups]
    layout = styled_layout(layout, title, height=max(menu["heights"].values()), subtitle=subtitle)
    layout = merged(layout, {"shapes": shapes[first],
                             "updatemenus": [{"buttons": buttons, "direction": "down", "x": 1.0, "xanchor": "right",
                                              "y": 1.0, "yanchor": "bottom", "pad": {"b": pad_bottom},
                                              "bgcolor": "#ffffff", "bordercolor": "#c3ccd6"}],
                             "margin": margin})
    update_axes(layout, "y", {"autorange": "reversed"})
    return layout


def fmt(value: object, digits: int = 1, pct: bool = False) -> str:
    """A number for display (thousands separated); missing values are shown as an en dash."""
    if is_missing(value):
        return "–"
    v = float(value)  # type: ignore[arg-type]
    return f"{v * 100:.{digits}f}%" if pct else f"{v:,.{digits}f}"


def fmt_range(low: object, high: object, digits: int = 1, pct: bool = False) -> str:
    """``a to b``; a missing upper bound (never reached, as for a median's CI) reads ``a or more``."""
    if is_missing(low):
        return "–"
    if is_missing(high):
        return f"{fmt(low, digits, pct)} or more"
    return f"{fmt(low, digits, pct)} to {fmt(high, digits, pct)}"


def fmt_interval(low: object, high: object, digits: int = 1, pct: bool = False) -> str:
    """``95% CI a to b`` (``a or more`` when the upper bound is missing), or "" when the lower one is."""
    if is_missing(low):
        return ""
    return f"95% CI {fmt_range(low, high, digits, pct)}"


# A small template of our own: "plotly_white" would embed ~8 KB of trace defaults in every figure.
TEMPLATE = go.layout.Template(layout={
    "font": {"family": FONT, "size": 12, "color": "#1d2630"},
    "paper_bgcolor": "#ffffff",
    "plot_bgcolor": "#ffffff",
    "colorway": list(_PALETTE),
    "hovermode": "closest",
    "xaxis": {"gridcolor": "#e8ecf1", "linecolor": "#c3ccd6", "zerolinecolor": "#c3ccd6", "automargin": True,
              "ticks": "outside", "tickcolor": "#c3ccd6", "title": {"standoff": 10}},
    "yaxis": {"gridcolor": "#e8ecf1", "linecolor": "#c3ccd6", "zerolinecolor": "#c3ccd6", "automargin": True,
              "title": {"standoff": 10}},
})


def merged(current: dict, changes: dict) -> dict:
    """``current`` updated by ``changes`` the way ``update_layout`` does: nested dictionaries are merged,
    anything else (the template among them) is replaced."""
    out = dict(current)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def line_shape(line: dict, *, x: float | None = None, y: float | None = None, subplot: int = 1) -> dict:
    """A vertical line at ``x`` or a horizontal one at ``y`` across the axes of subplot ``subplot``
    (numbered as Plotly numbers axes: 1 is ``x``/``y``, 2 is ``x2``/``y2``): the shape ``add_vline`` /
    ``add_hline`` draw, as a dictionary.

    Not drawn with ``add_vline``/``add_hline``: those look up the figure's subplot grid for every line
    (and build one for a figure made without ``make_subplots``), which cost more than the rest of a
    funnel plot; the director's page draws about 80 such lines.
    """
    axes = axes_of(subplot)
    xaxis, yaxis = axes["xaxis"], axes["yaxis"]
    if (x is None) == (y is None):
        raise ValueError("a reference line needs exactly one of x and y")
    if x is not None:
        return {"type": "line", "x0": x, "x1": x, "xref": xaxis, "y0": 0, "y1": 1, "yref": f"{yaxis} domain",
                "line": line}
    return {"type": "line", "x0": 0, "x1": 1, "xref": f"{xaxis} domain", "y0": y, "y1": y, "yref": yaxis, "line": line}


def line_label(text: str, *, x: float | None = None, y: float | None = None, subplot: int = 1) -> dict:
    """The label ``add_vline``/``add_hline`` write beside a :func:`line_shape` line given ``annotation_text``:
    centred above a vertical line at ``x`` (``annotation_position="top"``), or above the right end of a
    horizontal one at ``y`` (``"top right"``), as an annotation dictionary."""
    axes = axes_of(subplot)
    xaxis, yaxis = axes["xaxis"], axes["yaxis"]
    if (x is None) == (y is None):
        raise ValueError("a line's label needs exactly one of x and y")
    if x is not None:
        return {"showarrow": False, "text": text, "x": x, "xanchor": "center", "xref": xaxis, "y": 1,
                "yanchor": "bottom", "yref": f"{yaxis} domain"}
    return {"showarrow": False, "text": text, "x": 1, "xanchor": "right", "xref": f"{xaxis} domain", "y": y,
            "yanchor": "bottom", "yref": yaxis}


def styled_layout(layout: dict, title: str, height: int = 420, subtitle: str = "") -> dict:
    """``layout`` (a dictionary) with the shared look: left-aligned title (and optional subtitle),
    fonts, margins, white background."""
    title_spec: dict = {"text": f"<b>{title}</b>", "x": 0.01, "xanchor": "left", "y": 0.985, "yanchor": "top",
                        "font": {"size": 15}}
    if subtitle:
        title_spec["subtitle"] = {"text": subtitle, "font": {"size": 12, "color": "#5b6775"}}
    return merged(layout, {
        "title": title_spec,
        "template": TEMPLATE,
        "height": height,
        "margin": {"l": 70, "r": 24, "t": 84 if subtitle else 60, "b": 56},
        "hoverlabel": {"align": "left", "font": {"family": FONT}},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.01, "xanchor": "right", "x": 1},
    })


def base_layout(fig: go.Figure, title: str, height: int = 420, subtitle: str = "") -> go.Figure:
    """Apply the shared look (:func:`styled_layout`) to a figure."""
    # One assignment of the merged layout: Plotly validates it once, where ``update_layout`` walks and
    # validates every nested key on its own (about 5x slower; a page draws a hundred figures).
    fig.layout = styled_layout(fig.layout.to_plotly_json(), title, height, subtitle)
    return fig


@functools.lru_cache(maxsize=32)
def _grid_layout(rows: int, cols: int, options: tuple) -> str:
    layout = make_subplots(rows=rows, cols=cols, **dict(options)).layout.to_plotly_json()
    layout.pop("template", None)  # Plotly's default, replaced by ours (styled_layout)
    return json.dumps(layout)


def subplot_layout(rows: int, cols: int, **options: object) -> dict:
    """The layout ``make_subplots`` makes for this grid (axes, their domains and links, subplot titles),
    as a dictionary to build on; traces name their axes themselves (:func:`axes_of`).

    A figure built as dictionaries and made a ``go.Figure`` once (:func:`figure_of`) costs a fifth of
    one built call by call (``add_trace(row=...)``, ``update_yaxes(row=...)``): each such call walks
    and validates Plotly's object tree. The grid is made once per shape and copied.
    """
    frozen = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(options.items()))
    return json.loads(_grid_layout(rows, cols, frozen))


def _axis_number(subplot: int) -> str:
    return "" if subplot == 1 else str(subplot)  # Plotly's first axes have no number: x, y, x2, y2, ...


def axes_of(subplot: int) -> dict[str, str]:
    """The trace keys placing a trace on subplot ``subplot`` (numbered as Plotly numbers axes)."""
    return {"xaxis": f"x{_axis_number(subplot)}", "yaxis": f"y{_axis_number(subplot)}"}


def update_axes(layout: dict, letter: str, changes: dict, subplot: int | None = None) -> None:
    """Merge ``changes`` into one axis (``subplot``) or every axis of ``letter`` (``x`` or ``y``) of ``layout``
    (as ``update_xaxes``/``update_yaxes`` do: the first axis always exists, the others when laid out)."""
    first = f"{letter}axis"
    if subplot is not None:
        names = [f"{first}{_axis_number(subplot)}"]
    else:
        names = [first, *(k for k in layout if k.startswith(first) and k[len(first):].isdigit())]
    for name in names:
        layout[name] = merged(layout.get(name, {}), changes)


def update_annotations(layout: dict, changes: dict) -> None:
    """Merge ``changes`` into every annotation of ``layout`` (as ``update_annotations`` does)."""
    layout["annotations"] = [merged(a, changes) for a in layout.get("annotations", [])]


# Plotly checks every property of a figure it builds against its schema. The pages build about a
# hundred figures per run from dictionaries shaped by this module, always the same properties, and
# the check cost about a third of each page's time (1.3 s of a monthly run at 1M sessions). The tests
# build every page with the check on (tests/dashboards/test_figures.py; the audit packets do not use
# this function), so a misspelt property still fails there, and they show that the check changes no figure.
STRICT_FIGURES = False


def figure_of(data: list[dict], layout: dict) -> go.Figure:
    """A Plotly figure from trace and layout dictionaries; checked against Plotly's schema only when
    :data:`STRICT_FIGURES` is on (the tests)."""
    return go.Figure({"data": data, "layout": layout}, _validate=STRICT_FIGURES)
