"""Terminal plots: the braille line plot and the shaded heatmap."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minipad.plot import BRAILLE_BITS, RESET, SERIES_COLOURS, SHADES, heatmap, line_plot, overlay_plot


def plot_cells(text, height, title=True):
    """The `height` lines of braille cells, without labels and axis."""
    lines = text.split("\n")
    plot_lines = lines[1:1 + height] if title else lines[:height]
    return [line.split("┤" if "┤" in line else "│", 1)[1] for line in plot_lines]


def decode_dots(cell_lines):
    """Braille text -> (4*height, 2*width) bool grid of dots, row 0 at the top."""
    height, width = len(cell_lines), len(cell_lines[0])
    grid = np.zeros((4 * height, 2 * width), dtype=bool)
    for line_index, line in enumerate(cell_lines):
        for cell_index, character in enumerate(line):
            code = ord(character) - 0x2800
            assert 0 <= code <= 0xFF, f"not a braille character: {character!r}"
            for dot_row in range(4):
                for dot_column in range(2):
                    grid[4 * line_index + dot_row, 2 * cell_index + dot_column] = bool(
                        code & BRAILLE_BITS[dot_row][dot_column])
    return grid


@pytest.mark.parametrize("width,height", [(60, 12), (10, 3), (2, 2), (33, 7)])
def test_output_shape(width, height):
    values = np.linspace(3.0, 1.0, 50) ** 2
    text = line_plot(values, width=width, height=height, title="loss")
    lines = text.split("\n")
    assert lines[0] == "loss"
    assert len(lines) == 1 + height + 2  # title, plot lines, x axis, x labels
    cells = plot_cells(text, height)
    assert all(len(line) == width for line in cells)
    assert len({len(line) for line in lines[1:1 + height]}) == 1, "labels are padded to one width"
    assert lines[1 + height].endswith("└" + "─" * width)
    assert lines[0 + 1].lstrip().startswith("9 ┤")  # the maximum, 3**2, labels the top line
    assert lines[height].lstrip().startswith("1 ┤")  # the minimum labels the bottom line
    assert lines[-1].split() == ["0", "49"]
    assert line_plot(values, width=width, height=height).split("\n")[0] != "loss"  # no title: no title line


@given(
    steps=st.lists(st.floats(0.0, 10.0), min_size=1, max_size=300),
    start=st.floats(-100.0, 100.0),
    falling=st.booleans(),
    width=st.integers(2, 70),
    height=st.integers(2, 15),
)
def test_a_monotone_series_draws_a_monotone_connected_line(steps, start, falling, width, height):
    values = start + np.cumsum([0.0] + steps) * (-1 if falling else 1)
    grid = decode_dots(plot_cells(line_plot(values, width=width, height=height), height, title=False))
    assert grid.any(axis=0).all(), "every dot column has a dot: the line has no holes"
    rows = np.arange(grid.shape[0])
    top = np.array([rows[column].min() for column in grid.T])  # row 0 is the top of the plot
    bottom = np.array([rows[column].max() for column in grid.T])
    if falling:  # the drawn line only goes down (row index grows) from left to right
        assert np.all(np.diff(top) >= 0) and np.all(np.diff(bottom) >= 0)
    else:
        assert np.all(np.diff(top) <= 0) and np.all(np.diff(bottom) <= 0)
    if values[-1] != values[0]:
        first_at_top = falling
        assert grid[0 if first_at_top else -1, 0], "the first value sits at its extreme"
        assert grid[-1 if first_at_top else 0, -1], "the last value sits at its extreme"


def test_a_long_noisy_series_fills_its_range_per_column():
    rng = np.random.default_rng(0)
    values = rng.normal(size=100_000)
    text = line_plot(values, width=40, height=8)
    grid = decode_dots(plot_cells(text, 8, title=False))
    assert grid[0].any() and grid[-1].any()  # the largest and smallest values are both drawn
    assert grid.any(axis=0).all()


def test_a_constant_series_is_one_flat_line_with_one_label():
    text = line_plot([2.5] * 10, width=20, height=5)
    grid = decode_dots(plot_cells(text, 5, title=False))
    drawn_rows = np.flatnonzero(grid.any(axis=1))
    assert len(drawn_rows) == 1 and grid[drawn_rows[0]].all()
    labelled = [line for line in text.split("\n") if "┤" in line]
    assert len(labelled) == 1 and labelled[0].lstrip().startswith("2.5 ┤")
    line_plot([7.0], width=5, height=2)  # a single point does not crash either


def test_log_scale():
    values = [1000.0, 100.0, 10.0, 1.0]  # equal steps on a log axis
    text = line_plot(values, width=30, height=4, log_y=True)
    grid = decode_dots(plot_cells(text, 4, title=False))
    # A straight line on the log axis: dot rows rise by the same amount per point.
    point_columns = [0, 19, 39, 59]
    point_rows = [np.flatnonzero(grid[:, column]).mean() for column in point_columns]
    np.testing.assert_allclose(np.diff(point_rows), np.diff(point_rows)[0], atol=1.0)
    assert "1000 ┤" in text and "1 ┤" in text  # the labels show the values, not their logarithms
    with pytest.raises(ValueError, match="positive"):
        line_plot([1.0, 0.0], log_y=True)


def test_custom_x_positions_label_the_axis():
    text = line_plot([3.0, 2.0, 1.0], width=20, height=3, x=[100, 200, 300])
    assert text.split("\n")[-1].split() == ["100", "300"]
    with pytest.raises(ValueError, match="increasing"):
        line_plot([3.0, 2.0], x=[5, 5])
    with pytest.raises(ValueError, match="x has 1 values"):
        line_plot([3.0, 2.0], x=[5])


def test_empty_and_non_finite_series():
    with pytest.raises(ValueError, match="empty"):
        line_plot([])
    with pytest.raises(ValueError, match="all 3 values are NaN or infinite"):
        line_plot([np.nan, np.inf, np.nan])
    text = line_plot([3.0, 2.0, np.nan, 1.5, 1.0], width=20, height=4)
    assert text.split("\n")[-1] == "(1 of 5 values are NaN or infinite and not drawn)"
    grid = decode_dots(plot_cells(text, 4, title=False))
    assert not grid.any(axis=0).all(), "the line is broken where the value is missing"
    with pytest.raises(ValueError, match="width >= 2"):
        line_plot([1.0, 2.0], width=1)


def test_heatmap_layout_and_extremes():
    # Five bands of 0.2: [0, 0.2) blank, [0.2, 0.4) ░, [0.4, 0.6) ▒, [0.6, 0.8) ▓, [0.8, 1] █.
    matrix = np.array([[1.0, 0.0, 0.0], [0.7, 0.3, 0.0], [0.1, 0.4, 0.5]])
    text = heatmap(matrix, row_labels=["a", "b", "="], col_labels=["a", "b", "="], vmin=0, vmax=1)
    lines = text.split("\n")
    assert lines[0] == "  a b ="
    assert lines[1] == "a ██    "
    assert lines[2] == "b ▓▓░░  "
    assert lines[3] == "=   ▒▒▒▒"
    assert lines[4] == "  scale: ' ' 0 .. '█' 1"


def test_heatmap_long_column_labels_are_written_downwards():
    text = heatmap(np.eye(2), row_labels=["<pad>", "7"], col_labels=["<pad>", "7"], cell_width=1)
    lines = text.split("\n")
    assert [line[6:] for line in lines[:5]] == ["<7", "p", "a", "d", ">"]
    assert lines[5] == "<pad> █ "
    assert lines[6] == "    7  █"


@given(
    seed=st.integers(0, 2**32 - 1),
    n_rows=st.integers(1, 8),
    n_columns=st.integers(1, 8),
    cell_width=st.integers(1, 3),
)
def test_heatmap_shades_follow_the_values(seed, n_rows, n_columns, cell_width):
    matrix = np.random.default_rng(seed).normal(size=(n_rows, n_columns))
    lines = heatmap(matrix, cell_width=cell_width).split("\n")
    assert len(lines) == n_rows + 1
    shade_rows = [line[1:] for line in lines[:-1]]  # one space where the (empty) row labels go
    assert all(len(row) == n_columns * cell_width for row in shade_rows)
    levels = np.array([[SHADES.index(row[cell_width * j]) for j in range(n_columns)] for row in shade_rows])
    order = np.argsort(matrix, axis=None, kind="stable")
    assert np.all(np.diff(levels.reshape(-1)[order]) >= 0), "a larger value never gets a lighter shade"
    assert levels.reshape(-1)[order[-1]] == len(SHADES) - 1
    if matrix.max() > matrix.min():
        assert levels.reshape(-1)[order[0]] == 0


def test_heatmap_refuses_bad_input():
    with pytest.raises(ValueError, match="finite"):
        heatmap([[0.0, np.nan]])
    with pytest.raises(ValueError, match="2-D"):
        heatmap(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="2-D"):
        heatmap(np.zeros(3))
    with pytest.raises(ValueError, match="needs 2 row labels"):
        heatmap(np.zeros((2, 2)), row_labels=["a"])
    assert heatmap(np.full((2, 2), 0.3)).split("\n")[0] == " ████"  # constant: every value is the max


@given(
    seed=st.integers(0, 2**32 - 1),
    lengths=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    width=st.integers(2, 40),
    height=st.integers(2, 10),
)
def test_an_overlay_draws_the_union_of_its_series_on_shared_axes(seed, lengths, width, height):
    rng = np.random.default_rng(seed)
    series = [(np.cumsum(rng.uniform(0.5, 3.0, n)), rng.uniform(0.1, 5.0, n)) for n in lengths]
    x_range = (min(x[0] for x, _ in series), max(x[-1] for x, _ in series))
    y_range = (min(y.min() for _, y in series), max(y.max() for _, y in series))
    together = overlay_plot(series, width=width, height=height)
    grid = decode_dots([_cells(line, width) for line in together.split("\n")[:height]])
    alone = [decode_dots([_cells(line, width) for line in overlay_plot(
        [s], width=width, height=height, x_range=x_range, y_range=y_range).split("\n")[:height]]) for s in series]
    assert np.array_equal(grid, alone[0] | alone[1])


def _cells(line, width):
    """The braille cells of one plot line (after the axis character), without what follows them."""
    return line.split("┤" if "┤" in line else "│", 1)[1][:width]


def test_an_overlay_numbers_the_end_of_each_series_and_colours_them():
    falling = ([1, 2, 3, 4], [4.0, 3.0, 2.0, 1.0])
    rising = ([1, 2, 3], [1.0, 2.0, 4.0])
    lines = overlay_plot([falling, rising], width=10, height=4).split("\n")
    assert lines[3].endswith(" 1") and lines[0].endswith(" 2")   # falling ends at the bottom, rising at the top
    assert lines[-1].split() == ["1", "4"] and lines[0].startswith("4 ┤") and lines[3].startswith("1 ┤")
    coloured = overlay_plot([falling, rising], width=10, height=4, colour=True)
    plain = coloured
    for code in SERIES_COLOURS + (RESET,):
        plain = plain.replace(code, "")
    assert plain == "\n".join(lines)
    assert SERIES_COLOURS[0] in coloured and SERIES_COLOURS[1] in coloured
    assert SERIES_COLOURS[0] not in overlay_plot([falling], width=10, height=4, colour=True)  # one series: plain
    assert not overlay_plot([falling], width=10, height=4).split("\n")[3].endswith(" 1")     # and unnumbered


def test_an_overlay_refuses_what_it_cannot_draw():
    with pytest.raises(ValueError, match="no series"):
        overlay_plot([])
    with pytest.raises(ValueError, match="series 2"):
        overlay_plot([([1, 2], [1.0, 2.0]), ([2, 1], [1.0, 2.0])])
    with pytest.raises(ValueError, match="positive"):
        overlay_plot([([1, 2], [1.0, 0.0])], log_y=True)
    with pytest.raises(ValueError, match="series 1"):
        overlay_plot([([1, 2], [np.nan, np.nan])])
