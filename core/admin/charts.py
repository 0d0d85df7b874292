"""A week of CO2 as a small inline SVG, for the admin's change pages.

Pure: it draws points it is given (hourly means, computed by the database,
see ``core.admin.inventory``) and reads nothing else. The admin serves no
script and loads nothing from elsewhere, so the chart is plain markup with
its colours inline; text takes ``currentColor`` and so follows the admin's
light or dark theme.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta, tzinfo

from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 720, 180
# The plot area inside the viewBox; the margins hold the labels.
LEFT, RIGHT, TOP, BOTTOM = 64, 712, 10, 156
# Below this range the line would only magnify the sensor's noise.
SMALLEST_RANGE_PPM = 20
LINE_COLOUR = "#2b7bb9"
EMPTY_MESSAGE = "No samples in the last 7 days"


def co2_chart(
    points: Sequence[tuple[datetime, float]],
    *,
    start: datetime,
    end: datetime,
    tz: tzinfo,
    title: str,
    step: timedelta = timedelta(hours=1),
) -> SafeString:
    """An SVG of ``(time, co2_ppm)`` points in time order on an axis from
    ``start`` to ``end``, with a tick at each local midnight in ``tz``.
    Points further apart than ``step`` are not joined: a gap stays a gap."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="co2-chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}" '
        'style="max-width: 100%; height: auto; font: 11px sans-serif">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{RIGHT - LEFT}" height="{BOTTOM - TOP}" '
        'fill="none" stroke="currentColor" stroke-opacity="0.3"/>',
    ]
    parts += _day_ticks(start, end, tz)
    if points:
        parts += _series(points, start, end, step)
    else:
        parts.append(
            f'<text x="{(LEFT + RIGHT) / 2}" y="{(TOP + BOTTOM) / 2}" text-anchor="middle" '
            f'dominant-baseline="middle" fill="currentColor" font-size="14">{escape(EMPTY_MESSAGE)}</text>'
        )
    parts.append("</svg>")
    # Every value above is a number we computed or passed through escape().
    return mark_safe("".join(parts))


def _x(moment: datetime, start: datetime, end: datetime) -> float:
    # In UTC: between datetimes of one zone Python subtracts wall-clock times,
    # and the night the clocks change would be an hour short or long.
    moment, start, end = (m.astimezone(UTC) for m in (moment, start, end))
    return LEFT + (RIGHT - LEFT) * (moment - start) / (end - start)


def _day_ticks(start: datetime, end: datetime, tz: tzinfo) -> list[str]:
    ticks = []
    day = start.astimezone(tz).date() + timedelta(days=1)
    # combine() with the zone gives local midnight, 23 or 25 hours after the
    # previous one when the clocks change.
    while (midnight := datetime.combine(day, time(), tzinfo=tz)) < end:
        x = _x(midnight, start, end)
        ticks.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{BOTTOM}" stroke="currentColor" stroke-opacity="0.15"/>'
            f'<text class="day" x="{x:.1f}" y="{BOTTOM + 16}" text-anchor="middle" fill="currentColor">'
            f"{escape(date_format(midnight, 'D j'))}</text>"
        )
        day += timedelta(days=1)
    return ticks


def _series(points: Sequence[tuple[datetime, float]], start: datetime, end: datetime, step: timedelta) -> list[str]:
    values = [value for _, value in points]
    low, high = min(values), max(values)
    padding = max(0.0, SMALLEST_RANGE_PPM - (high - low)) / 2
    bottom, top = low - padding, high + padding

    def y(value: float) -> float:
        return BOTTOM - (BOTTOM - TOP) * (value - bottom) / (top - bottom)

    parts = [
        f'<text class="{name}" x="{LEFT - 6}" y="{y(value):.1f}" text-anchor="end" dominant-baseline="middle" '
        f'fill="currentColor">{round(value)} ppm</text>'
        for name, value in (("max", high), ("min", low))
        if name == "max" or round(low) != round(high)
    ]
    for run in _runs(points, step):
        coordinates = [(_x(moment, start, end), y(value)) for moment, value in run]
        if len(coordinates) == 1:
            # A lone hour between gaps would be an invisible line.
            (cx, cy) = coordinates[0]
            parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2" fill="{LINE_COLOUR}"/>')
        else:
            joined = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coordinates)
            parts.append(
                f'<polyline points="{joined}" fill="none" stroke="{LINE_COLOUR}" stroke-width="1.5" '
                'stroke-linejoin="round"/>'
            )
    return parts


def _runs(points: Sequence[tuple[datetime, float]], step: timedelta) -> list[list[tuple[datetime, float]]]:
    runs = [[points[0]]]
    for previous, point in zip(points, points[1:], strict=False):
        if point[0] - previous[0] > step:
            runs.append([])
        runs[-1].append(point)
    return runs
