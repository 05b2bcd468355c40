"""Standalone SVG pictures (for slides and web pages), written with the standard library alone.

An SVG file is XML text: an ``<svg>`` element whose children are shapes (``<rect>``, ``<polyline>``,
``<circle>``, ``<text>``) placed in pixel coordinates, x to the right and y downwards. Any browser opens
it, and slide programs take it as a picture that stays sharp at every size.

Two habits make the files safe and checkable:
  * every text goes through ``xml.sax.saxutils.escape`` and every attribute value through ``quoteattr``,
    so a token such as ``<scratch>`` or a folder named ``a&b`` cannot break the file (a character XML
    cannot hold at all, such as a control character, becomes U+FFFD);
  * every shape carries the numbers it draws, as ``data-*`` attributes and as a ``<title>`` child (which
    browsers show as a tooltip), so a program, or a test, can read the values back from the picture.

    chart = line_chart([Series("loss", [1, 2, 3], [2.0, 1.0, 0.5])], left=0, top=0, width=400, height=250,
                       title="training loss", y_label="loss", log_y=True)
    write_svg("loss.svg", document(400, 250, "training loss", [chart]))
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from .checkpoint import write_text_atomically

__all__ = ["Series", "tag", "label", "document", "write_svg", "line_chart", "heatmap", "COLOURS", "number"]

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")   # one per series: blue, red, green, purple
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
MONOSPACE = "DejaVu Sans Mono, Menlo, Consolas, monospace"


# Characters XML 1.0 cannot hold (most control characters, lone surrogates from undecodable file names, ...)
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_safe(text: str) -> str:
    """``text`` with every character XML cannot hold replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def xml_text(text: str) -> str:
    """``text`` escaped for XML, as the content of an element (a carriage return as a character reference,
    which XML keeps: a bare one would be read back as a newline)."""
    return escape(_xml_safe(text), {"\r": "&#13;"})


def number(value: float) -> str:
    """A value as data attributes and tooltips hold it: 6 significant digits (loss.csv's precision)."""
    return f"{value:.6g}"


def _coordinate(value: float) -> str:
    """A pixel coordinate: one decimal is finer than any screen needs."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def tag(name: str, *children: str, **attributes) -> str:
    """``<name a="1">children</name>``; children are markup already (use ``label`` for text).

    Attribute names: a trailing underscore is dropped (``class_``) and ``_`` becomes ``-`` (``font_size``,
    ``data_loss``); None values are left out; floats are written as coordinates.
    """
    parts = [name]
    for key, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, float):
            value = _coordinate(value)
        parts.append(f"{key.rstrip('_').replace('_', '-')}={quoteattr(_xml_safe(str(value)))}")
    opening = " ".join(parts)
    if not children:
        return f"<{opening}/>"
    return f"<{opening}>{''.join(children)}</{name}>"


def label(x: float, y: float, text: str, size: float = 12, anchor: str = "start", **attributes) -> str:
    """A ``<text>`` at (x, y) (the baseline), its content escaped."""
    return tag("text", xml_text(text), x=float(x), y=float(y), font_size=size, text_anchor=anchor, **attributes)


def title(text: str) -> str:
    """A ``<title>`` child: the tooltip of its parent shape."""
    return tag("title", xml_text(text))


def document(width: float, height: float, heading: str, children: list[str]) -> str:
    """A whole standalone SVG file: white background, a <title>, the children on top."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            + tag("svg", title(heading), tag("rect", width="100%", height="100%", fill="white"), *children,
                  xmlns="http://www.w3.org/2000/svg", width=int(math.ceil(width)), height=int(math.ceil(height)),
                  viewBox=f"0 0 {int(math.ceil(width))} {int(math.ceil(height))}", font_family=FONT)
            + "\n")


def write_svg(path: str, svg_text: str) -> None:
    """Write the file atomically (a temporary file, then a rename), as every minipad file is written."""
    write_text_atomically(path, svg_text)


# ------------------------------------------------------------------------------------------ line charts
@dataclass
class Series:
    """One curve of a chart: its name (in the legend), x and y values, and whether to mark each point."""
    name: str
    x: list
    y: list
    markers: bool = False   # a dot with a tooltip on every point: for a few points (progress evaluations)


def ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round values between low and high, about ``count`` of them: steps of 1, 2 or 5 times a power of ten."""
    if high <= low:
        return [low]
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(multiple * power for multiple in (1, 2, 5, 10) if multiple * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    return [first + index * step for index in range(int((high - first) / step + 1e-9) + 1)]


def log_ticks(low: float, high: float) -> list[float]:
    """Ticks of a logarithmic axis: the powers of ten in [low, high], with 2 and 5 times them if few."""
    tens = [10.0 ** k for k in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)]
    inside = [value for value in tens if low <= value * (1 + 1e-9) and value <= high * (1 + 1e-9)]
    if len(inside) >= 3:
        return inside
    finer = sorted(m * value for value in tens for m in (1, 2, 5))
    return [value for value in finer if low <= value * (1 + 1e-9) and value <= high * (1 + 1e-9)] or [low, high]


def line_chart(series: list[Series], left: float, top: float, width: float, height: float, title_text: str,
               y_label: str, x_label: str = "step", log_y: bool = False,
               y_range: tuple[float, float] | None = None, x_range: tuple[float, float] | None = None) -> str:
    """A chart of one or more series on shared axes, as a ``<g>`` placed at (left, top).

    Axes span every series (or ``x_range`` and ``y_range``); ``log_y`` draws y on a logarithmic scale. Each series is a
    ``<polyline class="series">`` with ``data-name``, ``data-x`` and ``data-y`` (its values, space-separated),
    and, with ``markers``, a ``<circle>`` per point whose tooltip gives the point's x and y.
    """
    points = [(x, y) for s in series for x, y in zip(s.x, s.y) if math.isfinite(y) and (y > 0 or not log_y)]
    if not points:
        raise ValueError("nothing to chart: no finite values")
    transform = math.log10 if log_y else float
    x_low, x_high = x_range or (min(x for x, _ in points), max(x for x, _ in points))
    if y_range is None:
        y_low, y_high = min(y for _, y in points), max(y for _, y in points)
    else:
        y_low, y_high = y_range
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1
    if y_high == y_low:
        y_low, y_high = (y_low / 2, y_high * 2) if log_y else (y_low - 1, y_high + 1)
    area_left, area_top = left + 64, top + 50   # room above for the title and the legend
    area_width, area_height = width - 64 - 16, height - 50 - 44

    def to_x(value):
        return area_left + (value - x_low) / (x_high - x_low) * area_width

    def to_y(value):
        fraction = (transform(value) - transform(y_low)) / (transform(y_high) - transform(y_low))
        return area_top + (1 - min(1.0, max(0.0, fraction))) * area_height

    parts = [label(left + width / 2, top + 18, title_text, size=15, anchor="middle", font_weight="bold")]
    for value in (log_ticks(y_low, y_high) if log_y else ticks(y_low, y_high)):
        y = to_y(value)
        parts.append(tag("line", x1=area_left, x2=area_left + area_width, y1=y, y2=y, stroke="#e5e5e5"))
        parts.append(label(area_left - 6, y + 4, f"{value:.4g}", size=11, anchor="end"))
    for value in ticks(x_low, x_high):
        x = to_x(value)
        parts.append(tag("line", x1=x, x2=x, y1=area_top + area_height, y2=area_top + area_height + 5,
                         stroke="black"))
        parts.append(label(x, area_top + area_height + 18, f"{value:g}", size=11, anchor="middle"))
    parts.append(tag("rect", x=area_left, y=area_top, width=area_width, height=area_height, fill="none",
                     stroke="black"))
    parts.append(label(area_left + area_width / 2, top + height - 6, x_label, size=12, anchor="middle"))
    parts.append(label(left + 14, area_top + area_height / 2, y_label, size=12, anchor="middle",
                       transform=f"rotate(-90 {_coordinate(left + 14)} {_coordinate(area_top + area_height / 2)})"))
    for index, s in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        kept = [(x, y) for x, y in zip(s.x, s.y) if math.isfinite(y) and (y > 0 or not log_y)]
        coordinates = " ".join(f"{_coordinate(to_x(x))},{_coordinate(to_y(y))}" for x, y in kept)
        summary = f"{s.name}: {len(kept)} points" + (
            f", {y_label} {number(kept[0][1])} at {x_label} {number(kept[0][0])} to {number(kept[-1][1])} at "
            f"{x_label} {number(kept[-1][0])}" if kept else "")
        parts.append(tag("polyline", title(summary), class_="series", points=coordinates, fill="none",
                         stroke=colour, stroke_width=1.5, data_name=s.name,
                         data_x=" ".join(number(x) for x, _ in kept), data_y=" ".join(number(y) for _, y in kept)))
        if s.markers:
            for x, y in kept:
                parts.append(tag("circle", title(f"{s.name}: {x_label} {number(x)}, {y_label} {number(y)}"),
                                 class_="point", cx=to_x(x), cy=to_y(y), r=3.0, fill=colour,
                                 data_x=number(x), data_y=number(y)))
    legend_x = area_left   # the legend, one entry after the other between the title and the chart
    for index, s in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        parts.append(tag("line", x1=legend_x, x2=legend_x + 20, y1=top + 34, y2=top + 34, stroke=colour,
                         stroke_width=2.5))
        parts.append(label(legend_x + 26, top + 38, s.name, size=11))
        legend_x += 26 + 6.5 * len(s.name) + 24
    return tag("g", *parts, class_="chart")


# ---------------------------------------------------------------------------------------------- heatmap
def heatmap(matrix, row_labels: list[str], col_labels: list[str], left: float, top: float, heading: str,
            cell: float = 12, describe=None) -> tuple[str, float, float]:
    """A heatmap as a ``<g>`` at (left, top): one square per entry, darker for larger values.

    Shade: fill-opacity = value / the matrix's largest value (0 is white). Each square has ``data-row``,
    ``data-column`` and ``data-weight`` and a tooltip, ``describe(row, column, value)`` if given.
    Returns (markup, width, height) so that the caller can place heatmaps side by side.
    """
    n_rows, n_columns = len(row_labels), len(col_labels)
    largest = max((float(v) for row in matrix for v in row), default=0.0) or 1.0
    label_width = 8 + 7 * max((len(text) for text in row_labels), default=0)
    label_height = 8 + 7 * max((len(text) for text in col_labels), default=0)
    grid_left, grid_top = left + label_width, top + 20 + label_height
    parts = [label(left, top + 13, heading, size=12, font_weight="bold")]
    for column, text in enumerate(col_labels):
        x, y = grid_left + (column + 0.5) * cell + 4, grid_top - 4
        parts.append(label(x, y, text, size=10, font_family=MONOSPACE,
                           transform=f"rotate(-90 {_coordinate(x)} {_coordinate(y)})"))
    for row, text in enumerate(row_labels):
        parts.append(label(grid_left - 4, grid_top + (row + 0.75) * cell, text, size=10, anchor="end",
                           font_family=MONOSPACE))
        for column in range(n_columns):
            value = float(matrix[row][column])
            tooltip = describe(row, column, value) if describe else f"{number(value)}"
            parts.append(tag("rect", title(tooltip), class_="cell", x=grid_left + column * cell,
                             y=grid_top + row * cell, width=float(cell), height=float(cell), fill="#08306b",
                             fill_opacity=f"{max(0.0, value) / largest:.3f}", data_row=row, data_column=column,
                             data_weight=number(value)))
    parts.append(tag("rect", x=grid_left, y=grid_top, width=float(n_columns * cell), height=float(n_rows * cell),
                     fill="none", stroke="#999999"))
    width = label_width + n_columns * cell + 8
    height = 20 + label_height + n_rows * cell + 8
    return tag("g", *parts, class_="heatmap"), width, height
