"""The plain-text table printer."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minipad.table import format_table


def test_the_documented_example():
    table = format_table(["task", "accuracy"], [["addition", 0.987], ["polynomial", 0.5]])
    assert table == (
        "task        accuracy\n"
        "----------  --------\n"
        "addition       0.987\n"
        "polynomial       0.5"
    )


def test_cell_formatting():
    table = format_table(
        ["name", "value", "count", "flag", "missing"],
        [["a", 1234.5678, 7, True, None], ["b", np.float32(0.000123456), np.int64(12), False, 2.0]],
    )
    lines = table.splitlines()
    assert lines[2].split() == ["a", "1235", "7", "True"]
    assert lines[3].split() == ["b", "0.0001235", "12", "False", "2"]
    custom = format_table(["x"], [[3.14159]], float_format=".2f")
    assert custom.splitlines()[2] == "3.14"


def test_numbers_align_right_and_text_left_by_default():
    lines = format_table(["name", "n"], [["a", 5], ["long name", 12345]]).splitlines()
    assert lines[2] == "a              5"
    assert lines[3] == "long name  12345"


def test_explicit_alignment():
    lines = format_table(["left", "right", "centre"], [["a", "b", "c"]], align=["l", ">", "^"]).splitlines()
    assert lines[2] == "a         b    c"
    with pytest.raises(ValueError, match="unknown alignment"):
        format_table(["a"], [["x"]], align=["sideways"])
    with pytest.raises(ValueError, match="one code per column"):
        format_table(["a", "b"], [["x", "y"]], align=["<"])


cell_text = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=0, max_size=10)


@given(
    data=st.data(),
    n_columns=st.integers(1, 5),
    n_rows=st.integers(0, 6),
)
def test_every_cell_sits_in_its_column(data, n_columns, n_rows):
    headers = data.draw(st.lists(cell_text.filter(bool), min_size=n_columns, max_size=n_columns))
    rows = data.draw(st.lists(st.lists(cell_text | st.integers(-10**6, 10**6), min_size=n_columns,
                                       max_size=n_columns), min_size=n_rows, max_size=n_rows))
    lines = format_table(headers, rows).split("\n")  # not splitlines: a row of empty cells is an empty line
    assert len(lines) == 2 + n_rows
    # The dashes give each column's span; every cell's text is found within its column's span.
    spans, start = [], 0
    for dashes in lines[1].split("  "):
        spans.append((start, start + len(dashes)))
        start += len(dashes) + 2
    assert len(spans) == n_columns
    for line, cells in zip([lines[0]] + lines[2:], [headers] + rows):
        padded = line.ljust(spans[-1][1])
        assert len(padded) == spans[-1][1], "no line is wider than the table"
        for (begin, end), cell in zip(spans, cells):
            assert padded[begin:end].strip() == str(cell)
            assert begin == 0 or padded[begin - 2:begin] == "  ", "columns are two spaces apart"


def test_markdown_style():
    table = format_table(["size", "ms | step"], [["2x4x64", 12.5], ["4x4x128", 80.25]], style="markdown")
    assert table == (
        "| size    | ms \\| step |\n"
        "| ------- | ---------: |\n"
        "| 2x4x64  |       12.5 |\n"
        "| 4x4x128 |      80.25 |"
    )


def test_bad_tables_are_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="row 1 has 1 cells but there are 2 headers"):
        format_table(["a", "b"], [["x", "y"], ["z"]])
    with pytest.raises(ValueError, match="single lines"):
        format_table(["a"], [["two\nlines"]])
    with pytest.raises(ValueError, match="at least one column"):
        format_table([], [])
    with pytest.raises(ValueError, match="style"):
        format_table(["a"], [], style="html")


def test_a_table_without_rows_is_just_the_header():
    assert format_table(["step", "loss"], []) == "step  loss\n----  ----"
