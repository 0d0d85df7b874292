"""The admin's week of CO2 and fidelity badges: the chart as markup, and the
node, installation and organization pages that show them."""

import re
import xml.etree.ElementTree as ET
import zoneinfo
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.admin import organizations
from core.admin.charts import EMPTY_MESSAGE, co2_chart
from core.models import Node, NodeFidelity, Sample
from core.tests.factories import make_installation, make_node

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2024, 3, 8, 12, 30, tzinfo=UTC)
WEEK_AGO = NOW - timedelta(days=7)


def _chart(points, *, start=WEEK_AGO, end=NOW, title="CO2") -> ET.Element:
    return ET.fromstring(co2_chart(points, start=start, end=end, tz=BERLIN, title=title))


def _hours(*means, first=NOW - timedelta(hours=10)):
    return [(first + timedelta(hours=i), mean) for i, mean in enumerate(means)]


def _polylines(svg: ET.Element) -> list[list[tuple[float, float]]]:
    return [
        [tuple(float(c) for c in pair.split(",")) for pair in line.get("points").split()]
        for line in svg.iter(f"{SVG}polyline")
    ]


def _texts(svg: ET.Element, cls: str | None = None) -> list[str]:
    return [text.text for text in svg.iter(f"{SVG}text") if cls is None or text.get("class") == cls]


# --- The chart ---------------------------------------------------------------------------


def test_empty_chart_says_there_are_no_samples():
    svg = _chart([])
    assert EMPTY_MESSAGE in _texts(svg)
    assert _polylines(svg) == []


def test_consecutive_hours_make_one_line_running_left_to_right():
    svg = _chart(_hours(500, 900, 700))
    [line] = _polylines(svg)
    xs, ys = [x for x, _ in line], [y for _, y in line]
    assert xs == sorted(xs)
    # SVG's y grows downwards: the highest mean is the topmost point.
    assert ys[1] == min(ys) and ys[0] == max(ys)


def test_points_lie_where_their_time_falls_on_the_week():
    svg = _chart(_hours(500, 600, first=WEEK_AGO + timedelta(days=3.5)))
    [line] = _polylines(svg)
    frame = svg.find(f"{SVG}rect")
    left, right = float(frame.get("x")), float(frame.get("x")) + float(frame.get("width"))
    assert line[0][0] == pytest.approx((left + right) / 2, abs=0.1)


def test_an_hour_without_samples_breaks_the_line():
    points = _hours(500, 510, 520) + _hours(800, 810, first=NOW - timedelta(hours=4))
    assert [len(line) for line in _polylines(_chart(points))] == [3, 2]


def test_a_lone_hour_between_gaps_still_shows():
    points = _hours(500, 510) + _hours(900, first=NOW - timedelta(hours=3))
    svg = _chart(points)
    assert len(_polylines(svg)) == 1
    assert len(list(svg.iter(f"{SVG}circle"))) == 1


def test_axis_is_labelled_with_the_lowest_and_highest_mean():
    svg = _chart(_hours(412.4, 1380.0, 800))
    assert _texts(svg, "max") == ["1380 ppm"]
    assert _texts(svg, "min") == ["412 ppm"]


def test_a_flat_line_has_one_label_and_stays_inside_the_frame():
    svg = _chart(_hours(420, 420, 420))
    assert _texts(svg, "max") == ["420 ppm"] and _texts(svg, "min") == []
    frame = svg.find(f"{SVG}rect")
    top, bottom = float(frame.get("y")), float(frame.get("y")) + float(frame.get("height"))
    [line] = _polylines(svg)
    assert all(top < y < bottom for _, y in line)


def test_each_local_midnight_of_the_week_gets_a_tick():
    svg = _chart([], start=datetime(2024, 3, 1, 12, tzinfo=BERLIN), end=datetime(2024, 3, 8, 12, tzinfo=BERLIN))
    assert _texts(svg, "day") == ["Sat 2", "Sun 3", "Mon 4", "Tue 5", "Wed 6", "Thu 7", "Fri 8"]


def test_day_ticks_stay_at_midnight_when_the_clocks_change():
    # 27 October 2024 had 25 hours in Berlin.
    start, end = datetime(2024, 10, 25, 12, tzinfo=BERLIN), datetime(2024, 11, 1, 12, tzinfo=BERLIN)
    svg = _chart([], start=start, end=end)
    xs = [float(line.get("x1")) for line in svg.iter(f"{SVG}line")]
    hour = (float(svg.find(f"{SVG}rect").get("width"))) / ((end - start).total_seconds() / 3600)
    gaps = [round((b - a) / hour) for a, b in zip(xs, xs[1:], strict=False)]
    assert gaps == [24, 25, 24, 24, 24, 24]


def test_text_in_the_chart_is_escaped():
    markup = co2_chart(_hours(500), start=WEEK_AGO, end=NOW, tz=BERLIN, title='<script>alert("x")</script>')
    assert "<script>" not in markup
    assert ET.fromstring(markup).find(f"{SVG}title").text == '<script>alert("x")</script>'


def test_chart_loads_nothing_from_elsewhere():
    markup = co2_chart(_hours(500, 600), start=WEEK_AGO, end=NOW, tz=BERLIN, title="CO2")
    assert not re.search(r"(href|src)=", markup)


# --- The admin's pages -------------------------------------------------------------------


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _page_chart(page: str) -> ET.Element:
    return ET.fromstring(re.search(r'<svg [^>]*class="co2-chart".*?</svg>', page, re.DOTALL).group(0))


def _sample(node, moment, co2):
    return Sample.objects.create(node=node, timestamp=moment, co2_ppm=co2)


def test_node_page_charts_hourly_means_of_the_last_week(staff_client, node, frozen):
    hour = NOW.replace(minute=0) - timedelta(hours=2)
    _sample(node, hour + timedelta(minutes=5), 400)
    _sample(node, hour + timedelta(minutes=35), 600)
    _sample(node, hour + timedelta(hours=1, minutes=5), 700)
    _sample(node, NOW - timedelta(days=8), 2000)
    _sample(make_node(owner=node.owner), hour, 3000)
    page = staff_client.get(reverse("admin:core_node_change", args=[node.pk])).content.decode()
    svg = _page_chart(page)
    assert [len(line) for line in _polylines(svg)] == [2]
    assert _texts(svg, "min") == ["500 ppm"] and _texts(svg, "max") == ["700 ppm"]


def test_node_page_without_samples_says_so(staff_client, node):
    page = staff_client.get(reverse("admin:core_node_change", args=[node.pk])).content.decode()
    assert EMPTY_MESSAGE in _texts(_page_chart(page))


def test_installation_chart_shows_only_samples_inside_its_span(staff_client, node, room, frozen):
    installation = make_installation(node, room, from_time=NOW - timedelta(days=3), to_time=NOW - timedelta(days=1))
    before, during, after = NOW - timedelta(days=5), NOW - timedelta(days=2), NOW - timedelta(hours=12)
    _sample(node, before, 900)
    _sample(node, during, 450)
    _sample(node, during + timedelta(hours=1), 470)
    _sample(node, after, 1500)
    page = staff_client.get(reverse("admin:core_installation_change", args=[installation.pk])).content.decode()
    svg = _page_chart(page)
    assert [len(line) for line in _polylines(svg)] == [2]
    assert _texts(svg, "min") == ["450 ppm"] and _texts(svg, "max") == ["470 ppm"]


def test_installation_that_ended_before_the_week_has_no_samples_to_show(staff_client, node, room, frozen):
    installation = make_installation(node, room, from_time=NOW - timedelta(days=30), to_time=NOW - timedelta(days=9))
    _sample(node, NOW - timedelta(days=10), 900)
    _sample(node, NOW - timedelta(days=1), 500)
    page = staff_client.get(reverse("admin:core_installation_change", args=[installation.pk])).content.decode()
    assert EMPTY_MESSAGE in _texts(_page_chart(page))


def _badges(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<span class="fidelity-badge fidelity-(\w+)"[^>]*>([^<]*)</span>', page)


def _with_fidelity(node: Node, status) -> Node:
    NodeFidelity.objects.create(node=node, fidelity=status)
    return node


def test_node_page_shows_the_stored_status_as_a_badge(staff_client, node):
    # Stored as missing although it never reported: the page shows what the check stored.
    _with_fidelity(node, NodeFidelity.Status.MISSING)
    page = staff_client.get(reverse("admin:core_node_change", args=[node.pk])).content.decode()
    assert _badges(page) == [("M", "missing")]
    assert "admin/managair.css" in page


def test_node_list_shows_a_badge_per_node(staff_client, organization):
    for alias, status in [("a", "E"), ("b", "M"), ("c", "D"), ("d", "U")]:
        _with_fidelity(make_node(owner=organization, alias=alias), status)
    make_node(owner=organization, alias="e")
    response = staff_client.get(reverse("admin:core_node_changelist"), {"o": "2"})
    assert _badges(response.content.decode()) == [
        ("E", "alive"), ("M", "missing"), ("D", "dead"), ("U", "unknown: never reported"), ("none", "not checked yet"),
    ]  # fmt: skip


def test_every_status_has_a_colour_of_its_own():
    css = (Path(settings.BASE_DIR) / "static" / "admin" / "managair.css").read_text()
    colours = {
        status: re.search(rf"\.fidelity-{status}\s*{{[^}}]*background:\s*([^;]+);", css).group(1)
        for status in ("E", "M", "D", "U")
    }
    assert len(set(colours.values())) == 4, colours


def test_installation_page_shows_the_badge_of_its_node(staff_client, installation):
    _with_fidelity(installation.node, NodeFidelity.Status.DEAD)
    page = staff_client.get(reverse("admin:core_installation_change", args=[installation.pk])).content.decode()
    assert _badges(page) == [("D", "dead")]


def test_organization_page_lists_its_nodes_with_their_status(staff_client, organization, other_organization):
    _with_fidelity(make_node(owner=organization, alias="Kitchen", eui64="70b3d5fffe1c0001"), "E")
    make_node(owner=organization, alias="Hall", eui64="70b3d5fffe1c0002")
    make_node(owner=other_organization, alias="Elsewhere")
    page = staff_client.get(reverse("admin:user_manager_organization_change", args=[organization.pk])).content.decode()
    table = re.search(r'<table class="organization-nodes">.*?</table>', page, re.DOTALL).group(0)
    rows = re.findall(r"<tr><td><a [^>]*>([^<]*)</a></td><td[^>]*>([^<]*)</td>", table)
    assert rows == [("Hall", "70b3d5fffe1c0002"), ("Kitchen", "70b3d5fffe1c0001")]
    assert _badges(table) == [("none", "not checked yet"), ("E", "alive")]
    assert "all 2 nodes in the node list" in page


def test_organization_page_lists_the_first_nodes_and_links_to_all(
    staff_client, organization, other_organization, monkeypatch
):
    monkeypatch.setattr(organizations, "LISTED_NODES", 2)
    for alias in ("c", "a", "b"):
        make_node(owner=organization, alias=alias)
    make_node(owner=other_organization, alias="elsewhere")
    page = staff_client.get(reverse("admin:user_manager_organization_change", args=[organization.pk])).content.decode()
    table = re.search(r'<table class="organization-nodes">.*?</table>', page, re.DOTALL).group(0)
    assert re.findall(r"<tr><td><a [^>]*>([^<]*)</a>", table) == ["a", "b"]
    link = re.search(r'<a href="([^"]*)">all 3 nodes in the node list</a> \(the first 2 above\)', page).group(1)
    response = staff_client.get(link.replace("&amp;", "&"))
    assert sorted(node.alias for node in response.context["cl"].result_list) == ["a", "b", "c"]


def test_organization_page_escapes_node_aliases(staff_client, organization):
    make_node(owner=organization, alias="<b>bold</b>")
    page = staff_client.get(reverse("admin:user_manager_organization_change", args=[organization.pk])).content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold</b>" not in page


def test_organization_page_costs_no_query_per_node(staff_client, organization):
    url = reverse("admin:user_manager_organization_change", args=[organization.pk])

    def queries_for_page() -> int:
        staff_client.get(url)  # fills per-process caches (content types)
        with CaptureQueriesContext(connection) as queries:
            staff_client.get(url)
        return len(queries)

    _with_fidelity(make_node(owner=organization), "E")
    with_one = queries_for_page()
    for status in ("E", "M", "D", "U"):
        _with_fidelity(make_node(owner=organization), status)
    assert queries_for_page() == with_one


def test_organization_add_page_has_no_node_list(staff_client):
    page = staff_client.get(reverse("admin:user_manager_organization_add")).content.decode()
    assert "organization-nodes" not in page
