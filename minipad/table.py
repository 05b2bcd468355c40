"""Plain-text tables for the terminal (accuracy tables, the benchmark), and Markdown for a README.

    >>> print(format_table(["task", "accuracy"], [["addition", 0.987], ["polynomial", 0.5]]))
    task        accuracy
    ----------  --------
    addition       0.987
    polynomial       0.5
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence

__all__ = ["format_table"]

_ALIGN_CODES = {"<": "<", "l": "<", "left": "<", ">": ">", "r": ">", "right": ">", "^": "^", "c": "^",
                "center": "^"}


def format_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    align: Sequence[str] | None = None,
    *,
    float_format: str = ".4g",
    style: str = "plain",
) -> str:
    """Lay out `rows` under `headers` in aligned columns; returns the table without a final newline.

    Cells: str as they are; float with `float_format` (".4g" -> 0.9873, 123.5, 1.235e+04); other numbers,
    booleans and anything else with str(); None as an empty cell.
    align: one code per column, "<"/"l"/"left", ">"/"r"/"right" or "^"/"c"/"center". By default a column
    whose cells are all numbers (or empty) is right-aligned, any other column left-aligned.
    style: "plain" (columns two spaces apart, dashes under the header) or "markdown" (a GitHub table,
    whose separator row carries the alignment).
    """
    headers = [str(header) for header in headers]
    n_columns = len(headers)
    if n_columns == 0:
        raise ValueError("a table needs at least one column")
    for index, row in enumerate(rows):
        if len(row) != n_columns:
            raise ValueError(f"row {index} has {len(row)} cells but there are {n_columns} headers: {list(row)!r}")
    cells = [[_format_cell(value, float_format) for value in row] for row in rows]
    for text in headers + [text for row in cells for text in row]:
        if "\n" in text or "\r" in text:
            raise ValueError(f"table cells must be single lines, got {text!r}")

    if align is None:
        align = [">" if rows and all(_is_number(row[column]) for row in rows) else "<"
                 for column in range(n_columns)]
    elif isinstance(align, str) or len(align) != n_columns:
        raise ValueError(f"align needs one code per column ({n_columns}), got {align!r}")
    try:
        codes = [_ALIGN_CODES[code] for code in align]
    except KeyError as error:
        raise ValueError(f"unknown alignment {error.args[0]!r}: use one of {sorted(_ALIGN_CODES)}") from None

    if style == "plain":
        widths = [max([len(headers[column])] + [len(row[column]) for row in cells]) for column in range(n_columns)]
        lines = [_join(headers, widths, codes, "  "), "  ".join("-" * width for width in widths)]
        lines += [_join(row, widths, codes, "  ") for row in cells]
        return "\n".join(line.rstrip() for line in lines)
    if style == "markdown":
        cells = [[text.replace("|", "\\|") for text in row] for row in cells]
        headers = [text.replace("|", "\\|") for text in headers]
        widths = [max([3, len(headers[column])] + [len(row[column]) for row in cells])
                  for column in range(n_columns)]
        separators = [_markdown_separator(width, code) for width, code in zip(widths, codes)]
        lines = [_join(headers, widths, codes, " | "), " | ".join(separators)]
        lines += [_join(row, widths, codes, " | ") for row in cells]
        return "\n".join(f"| {line} |" for line in lines)
    raise ValueError(f"unknown table style {style!r}: use 'plain' or 'markdown'")


def _is_number(value: object) -> bool:
    return value is None or (isinstance(value, numbers.Number) and not isinstance(value, bool))


def _format_cell(value: object, float_format: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return format(float(value), float_format)
    return str(value)


def _join(texts: list[str], widths: list[int], codes: list[str], separator: str) -> str:
    return separator.join(format(text, f"{code}{width}") for text, width, code in zip(texts, widths, codes))


def _markdown_separator(width: int, code: str) -> str:
    if code == ">":
        return "-" * (width - 1) + ":"
    if code == "^":
        return ":" + "-" * (width - 2) + ":"
    return "-" * width
