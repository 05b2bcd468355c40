"""Text plots for the terminal: a loss curve in braille dots, several curves on shared axes, and an
attention map in shades.

No plotting library: each braille character (U+2800 to U+28FF) is a cell of 2 x 4 dots, so a plot
`width` characters wide and `height` lines high has 2*width x 4*height dots.

    >>> print(line_plot([4.0, 2.0, 1.0, 0.5], width=8, height=2, title="loss"))
    loss
      4 ┤⠑⠤⡀⠀⠀⠀⠀⠀
    0.5 ┤⠀⠀⠈⠑⠢⠤⢄⣀
        └────────
         0      3
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["line_plot", "overlay_plot", "heatmap", "SHADES"]

BRAILLE_BLANK = 0x2800
# Bit of each dot in a braille cell, by [row from the top][column]: the dot numbering is
#   1 4
#   2 5
#   3 6
#   7 8      and dot k is bit k-1 of the offset from U+2800.
BRAILLE_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
SHADES = " ░▒▓█"


def line_plot(
    values: Sequence[float],
    width: int = 60,
    height: int = 12,
    title: str | None = None,
    log_y: bool = False,
    x: Sequence[float] | None = None,
) -> str:
    """Plot a series (a loss curve) as `height` lines of `width` braille characters, with axes.

    Layout: an optional title line, then `height` plot lines, each a y label, an axis character and
    `width` cells; then the x axis and a line with the first and last x. The top label is the largest
    value, the bottom label the smallest; consecutive points are joined by straight lines.
    values: the y values; x: their x positions (increasing), by default 0, 1, 2, ... (the steps).
    log_y: a logarithmic y axis (all values must be positive); the labels still show the values.
    Non-finite values (a diverged loss) are left out, which breaks the line there, and a note under the
    plot counts them. An empty series, or one with no finite value, raises ValueError.
    """
    if width < 2 or height < 2:
        raise ValueError(f"a plot needs width >= 2 and height >= 2, got {width} x {height}")
    y = np.asarray(values, dtype=np.float64).reshape(-1)
    if y.size == 0:
        raise ValueError("nothing to plot: the series is empty")
    x = np.arange(y.size, dtype=np.float64) if x is None else np.asarray(x, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"x has {x.size} values but there are {y.size} y values")
    if not np.all(np.isfinite(x)) or np.any(np.diff(x) <= 0):
        raise ValueError("x must be finite and strictly increasing")
    finite = np.isfinite(y)
    if not finite.any():
        raise ValueError(f"nothing to plot: all {y.size} values are NaN or infinite")
    if log_y:
        if np.any(y[finite] <= 0):
            raise ValueError(f"log_y needs positive values, the smallest is {y[finite].min():.4g}")
        y = np.where(finite, np.log(np.where(finite, y, 1.0)), np.nan)

    dot_columns, dot_rows = 2 * width, 4 * height
    low, high = float(y[finite].min()), float(y[finite].max())
    constant = high == low
    # Dot coordinates: column 0 is the first x, row 0 the bottom (the smallest value).
    x_span = x[-1] - x[0]
    columns = np.zeros(y.size, dtype=np.int64) if x_span == 0 else np.rint(
        (x - x[0]) / x_span * (dot_columns - 1)).astype(np.int64)
    if constant:
        rows = np.full(y.size, dot_rows // 2, dtype=np.int64)
    else:
        rows = np.rint((np.where(finite, y, low) - low) / (high - low) * (dot_rows - 1)).astype(np.int64)

    dots = _trace(columns.tolist(), rows.tolist(), finite.tolist(), dot_columns, dot_rows)
    cells = _braille(dots, width, height)

    unlog = math.exp if log_y else float
    if constant:  # one label, on the line the dots are drawn in
        labels = {height - 1 - (dot_rows // 2) // 4: _number(unlog(high))}
    else:
        labels = {0: _number(unlog(high)), height - 1: _number(unlog(low))}
    lines = _with_axes(cells, width, labels, title, x[0], x[-1])
    missing = int(y.size - finite.sum())
    if missing:
        lines.append(f"({missing} of {y.size} values are NaN or infinite and not drawn)")
    return "\n".join(lines)


# ANSI colours of the series of an overlay (blue, red, green, magenta); a cell two series share stays plain.
SERIES_COLOURS = ("\x1b[34m", "\x1b[31m", "\x1b[32m", "\x1b[35m")
RESET = "\x1b[0m"


def overlay_plot(
    series: Sequence[tuple[Sequence[float], Sequence[float]]],
    width: int = 60,
    height: int = 12,
    title: str | None = None,
    log_y: bool = False,
    y_range: tuple[float, float] | None = None,
    colour: bool = False,
    x_range: tuple[float, float] | None = None,
) -> str:
    """Several (x, y) series on shared axes, in braille: one run's curve against another's.

    The axes span every series: x from the smallest to the largest x, y from the smallest to the largest
    value, or ``x_range`` and ``y_range`` (low, high) when given (values outside are drawn at the edge, so
    that two plots of one run can share their x axis). With more than
    one series, the number of each (1, 2, ...) is written right of the plot on the line where its last
    point is, and ``colour`` paints each series' cells with an ANSI colour (a cell two series share stays
    plain). Non-finite values are left out; a series with none finite is an error, as in line_plot.
    """
    if width < 2 or height < 2:
        raise ValueError(f"a plot needs width >= 2 and height >= 2, got {width} x {height}")
    if not series:
        raise ValueError("nothing to plot: no series")
    prepared = []
    for number, (x, y) in enumerate(series, start=1):
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if x.shape != y.shape or y.size == 0:
            raise ValueError(f"series {number} needs as many x as y values, and at least one")
        if not np.all(np.isfinite(x)) or np.any(np.diff(x) <= 0):
            raise ValueError(f"series {number}: x must be finite and strictly increasing")
        finite = np.isfinite(y)
        if not finite.any():
            raise ValueError(f"nothing to plot in series {number}: all its values are NaN or infinite")
        if log_y and np.any(y[finite] <= 0):
            raise ValueError(f"log_y needs positive values, series {number} has {y[finite].min():.4g}")
        prepared.append((x, y, finite))
    transform = np.log if log_y else (lambda values: values)
    if y_range is not None:
        low, high = (float(v) for v in transform(np.asarray(y_range, dtype=np.float64)))
    else:
        low = min(float(transform(y[finite]).min()) for _, y, finite in prepared)
        high = max(float(transform(y[finite]).max()) for _, y, finite in prepared)
    x_first = min(float(x[0]) for x, _, _ in prepared) if x_range is None else float(x_range[0])
    x_last = max(float(x[-1]) for x, _, _ in prepared) if x_range is None else float(x_range[1])

    dot_columns, dot_rows = 2 * width, 4 * height
    grids, end_lines = [], {}
    for number, (x, y, finite) in enumerate(prepared, start=1):
        columns = np.zeros(x.size, np.int64) if x_last == x_first else np.rint(
            np.clip((x - x_first) / (x_last - x_first), 0.0, 1.0) * (dot_columns - 1)).astype(np.int64)
        level = transform(np.where(finite, y, 1.0))
        if high == low:
            rows = np.full(y.size, dot_rows // 2, dtype=np.int64)
        else:
            fraction = np.clip((level - low) / (high - low), 0.0, 1.0)
            rows = np.rint(fraction * (dot_rows - 1)).astype(np.int64)
        grids.append(_trace(columns.tolist(), rows.tolist(), finite.tolist(), dot_columns, dot_rows))
        last = int(np.flatnonzero(finite)[-1])
        end_lines.setdefault(height - 1 - rows[last] // 4, []).append(str(number))

    cells = _braille(np.logical_or.reduce(grids), width, height)
    if colour and len(series) > 1:
        own_cells = [_braille(grid, width, height) for grid in grids]
        cells = [_paint(line, [own[index] for own in own_cells]) for index, line in enumerate(cells)]
    unlog = math.exp if log_y else float
    labels = {0: _number(unlog(high)), height - 1: _number(unlog(low))}
    ends = {line: " " + ",".join(numbers) for line, numbers in end_lines.items()} if len(series) > 1 else {}
    return "\n".join(_with_axes(cells, width, labels, title, x_first, x_last, ends))


def _with_axes(cells: list[str], width: int, labels: dict, title: str | None, x_first: float, x_last: float,
               ends: dict | None = None) -> list[str]:
    """A plot's lines: the title, then each line of ``width`` cells behind its y label (``labels``: line
    index -> text) and the y axis, followed by what ``ends`` holds for that line; then the x axis and the
    first and last x (the last ending under the last column; one x when they are the same)."""
    ends = ends or {}
    label_width = max(len(label) for label in labels.values())
    lines = [title] if title else []
    for line_index, cell_line in enumerate(cells):
        label = labels.get(line_index, "")
        lines.append(f"{label:>{label_width}} {'┤' if label else '│'}{cell_line}{ends.get(line_index, '')}")
    lines.append(" " * label_width + " └" + "─" * width)
    first, last = _x_number(x_first), _x_number(x_last)
    gap = max(1, width - len(first) - len(last))
    lines.append(" " * (label_width + 2) + (first if x_last == x_first else first + " " * gap + last))
    return lines


def _paint(line: str, own_lines: list[str]) -> str:
    """Colour each cell of ``line`` by the one series drawn in it (own_lines: each series' cells alone)."""
    painted = []
    for index, character in enumerate(line):
        owners = [number for number, own in enumerate(own_lines) if own[index] != chr(BRAILLE_BLANK)]
        if len(owners) == 1:
            painted.append(SERIES_COLOURS[owners[0] % len(SERIES_COLOURS)] + character + RESET)
        else:
            painted.append(character)
    return "".join(painted)


def _trace(columns, rows, finite, dot_columns, dot_rows):
    """The set dots as a (dot_rows, dot_columns) bool grid, row 0 at the top, joining the points.

    Points that land in the same dot column only widen that column's vertical span; a move to another
    column draws a straight segment (DDA: one dot per step along the longer direction). This keeps the
    work proportional to the plot's size, not the series' length.
    """
    grid = np.zeros((dot_rows, dot_columns), dtype=bool)
    span_low = [dot_rows] * dot_columns
    span_high = [-1] * dot_columns
    previous = None
    for column, row, is_finite in zip(columns, rows, finite):
        if not is_finite:
            previous = None  # a gap in the series breaks the line
            continue
        span_low[column] = min(span_low[column], row)
        span_high[column] = max(span_high[column], row)
        if previous is not None and previous[0] == column:
            span_low[column] = min(span_low[column], previous[1])
            span_high[column] = max(span_high[column], previous[1])
        elif previous is not None:
            column0, row0 = previous
            steps = max(abs(column - column0), abs(row - row0))
            for step in range(steps + 1):
                c = column0 + round((column - column0) * step / steps)
                r = row0 + round((row - row0) * step / steps)
                grid[dot_rows - 1 - r, c] = True
        previous = (column, row)
    for column in range(dot_columns):
        if span_high[column] >= 0:
            grid[dot_rows - 1 - span_high[column]: dot_rows - span_low[column], column] = True
    return grid


def _braille(dots, width, height):
    """(4*height, 2*width) bool grid -> `height` strings of `width` braille characters."""
    lines = []
    for line in range(height):
        characters = []
        for cell in range(width):
            code = BRAILLE_BLANK
            for dot_row in range(4):
                for dot_column in range(2):
                    if dots[4 * line + dot_row, 2 * cell + dot_column]:
                        code |= BRAILLE_BITS[dot_row][dot_column]
            characters.append(chr(code))
        lines.append("".join(characters))
    return lines


def _number(value: float) -> str:
    """A short label: 4 significant digits, integers without a decimal point."""
    return f"{value:.4g}"


def _x_number(value: float) -> str:
    """An x label: whole numbers (steps) in full, others like _number."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else _number(value)


def heatmap(
    matrix,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    cell_width: int = 2,
) -> str:
    """Shade each entry of a 2-D matrix with one of " ░▒▓█" (an attention map: rows attend to columns).

    An entry v gets shade index min(4, floor(5 * (v - vmin) / (vmax - vmin))): five equal bands from
    vmin (blank) to vmax (full block). vmin and vmax default to the matrix's min and max; pass 0 and 1
    for attention weights so that maps are comparable. A constant matrix (vmin == vmax) is all full blocks.
    Each entry is `cell_width` characters wide. Column labels that fit the cell go on one line above the
    map, longer ones are written downwards, one character per line. A legend line ends the map.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.size == 0:
        raise ValueError(f"heatmap needs a non-empty 2-D matrix, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError("heatmap values must be finite (the matrix holds NaN or infinity)")
    if cell_width < 1:
        raise ValueError(f"cell_width must be at least 1, got {cell_width}")
    n_rows, n_columns = matrix.shape
    row_labels = [str(label) for label in row_labels] if row_labels is not None else [""] * n_rows
    col_labels = [str(label) for label in col_labels] if col_labels is not None else [""] * n_columns
    if len(row_labels) != n_rows or len(col_labels) != n_columns:
        raise ValueError(f"a {n_rows} x {n_columns} matrix needs {n_rows} row labels and {n_columns} column "
                         f"labels, got {len(row_labels)} and {len(col_labels)}")
    vmin = float(matrix.min()) if vmin is None else float(vmin)
    vmax = float(matrix.max()) if vmax is None else float(vmax)
    if vmax < vmin:
        raise ValueError(f"vmax ({vmax}) must not be below vmin ({vmin})")
    if vmax == vmin:
        levels = np.full(matrix.shape, len(SHADES) - 1)
    else:
        fraction = np.clip((matrix - vmin) / (vmax - vmin), 0.0, 1.0)
        levels = np.minimum(len(SHADES) - 1, np.floor(fraction * len(SHADES))).astype(np.int64)

    label_width = max(len(label) for label in row_labels)
    margin = " " * (label_width + 1)
    lines = []
    if any(col_labels):
        if max(len(label) for label in col_labels) <= cell_width:
            lines.append(margin + "".join(f"{label:<{cell_width}}" for label in col_labels).rstrip())
        else:  # vertical labels, read top to bottom
            for position in range(max(len(label) for label in col_labels)):
                line = "".join(f"{label[position] if position < len(label) else ' ':<{cell_width}}"
                               for label in col_labels)
                lines.append(margin + line.rstrip())
    for label, level_row in zip(row_labels, levels):
        lines.append(f"{label:>{label_width}} " + "".join(SHADES[level] * cell_width for level in level_row))
    lines.append(f"{margin}scale: '{SHADES[0]}' {_number(vmin)} .. '{SHADES[-1]}' {_number(vmax)}")
    return "\n".join(lines)
