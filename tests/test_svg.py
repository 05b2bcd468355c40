"""SVG pictures: well-formed XML whatever the text, round tick values, charts that hold their numbers."""
import math
import xml.etree.ElementTree as ElementTree

from hypothesis import given
from hypothesis import strategies as st

from minipad.svg import Series, document, heatmap, label, line_chart, log_ticks, number, tag, ticks

SVG = "{http://www.w3.org/2000/svg}"


@given(st.text(max_size=30))
def test_any_text_makes_well_formed_xml_and_xml_text_comes_back_whole(text):
    svg = document(100, 50, text, [label(1, 2, text), tag("rect", data_token=text, class_="x")])
    root = ElementTree.fromstring(svg.encode("utf-8", "surrogatepass"))   # well-formed, or this raises
    kept = "".join(c if c in "\t\n\r" or " " <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd" or c > "\uffff"
                   else "\ufffd" for c in text)
    assert (root.find(f"{SVG}text").text or "") == kept
    assert [rect.get("data-token") for rect in root.iter(f"{SVG}rect") if rect.get("class") == "x"] == [kept]


def test_newlines_and_markup_in_attributes_survive():
    root = ElementTree.fromstring(document(10, 10, "t", [tag("g", data_token="\n", data_other="<scratch> & \"x\"")]))
    group = root.find(f"{SVG}g")
    assert group.get("data-token") == "\n" and group.get("data-other") == "<scratch> & \"x\""


@given(st.floats(-1e4, 1e4), st.floats(1e-3, 1e4))
def test_ticks_are_round_and_inside(low, span):
    high = low + span
    values = ticks(low, high)
    assert 2 <= len(values) <= 11
    step = values[1] - values[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m, rel_tol=1e-6) for m in (1, 2, 5, 10))
    assert all(low - 1e-6 * span <= value <= high + 1e-6 * span for value in values)


def test_log_ticks():
    assert log_ticks(1e-4, 5.0) == [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    assert log_ticks(0.3, 4.0) == [0.5, 1.0, 2.0]


def test_a_chart_holds_its_series_and_a_heatmap_its_weights():
    chart = line_chart([Series("a & b", [1, 2, 3], [3.0, 1.5, 0.25]), Series("c", [2, 4], [50.0, 0.1], markers=True)],
                       0, 0, 400, 300, "loss", "loss", log_y=True)
    markup, width, height = heatmap([[0.25, 0.75], [1.0, 0.0]], ["x", "y"], ["<", ">"], 0, 300, "map")
    root = ElementTree.fromstring(document(400, 300 + height, "picture", [chart, markup]))
    series = [line for line in root.iter(f"{SVG}polyline")]
    assert [line.get("data-name") for line in series] == ["a & b", "c"]
    assert series[0].get("data-y").split() == ["3", "1.5", "0.25"] and series[1].get("data-x").split() == ["2", "4"]
    points = [circle for circle in root.iter(f"{SVG}circle")]
    assert [circle.get("data-y") for circle in points] == ["50", "0.1"]
    cells = [rect for rect in root.iter(f"{SVG}rect") if rect.get("class") == "cell"]
    assert [cell.get("data-weight") for cell in cells] == [number(v) for v in (0.25, 0.75, 1.0, 0.0)]
    assert [cell.get("fill-opacity") for cell in cells] == ["0.250", "0.750", "1.000", "0.000"]
