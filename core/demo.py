"""Sample curves for the demo: what a sensor in a used room would record.

Each room is a well-mixed box. People breathe out CO2 and water vapour and
warm the air; ventilation replaces room air with outdoor air at a rate of
``ach`` air changes per hour; heating pulls the temperature towards its
set-point. Occupancy and ventilation follow a timetable per kind of room (a
school class, a bar, a lecture hall) with day-to-day variation drawn from a
random generator seeded by seed, node and local date, so the same call always
gives the same samples and a later call continues the same curve.

Between two minutes the inputs are constant, so CO2 and vapour are updated
with the exact exponential solution rather than an Euler step, which would
overshoot when windows are wide open; temperature changes slowly enough for
Euler.
"""

import math
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

# The demo sites are in Berlin: timetables run on its local time whatever
# the server's TIME_ZONE.
BERLIN = ZoneInfo("Europe/Berlin")
OUTDOOR_CO2_PPM = 420.0
MINUTES_PER_DAY = 24 * 60
_STEP_H = 1 / 60
# Infiltration through closed windows and doors.
_CLOSED_ACH = 0.3
# Walls, plants and cleaning give off moisture: without it, winter air
# warmed indoors would be drier than rooms ever are.
_BUILDING_VAPOUR_G_M3_H = 0.5


class DemoSample(NamedTuple):
    node_id: uuid.UUID
    timestamp: datetime
    co2_ppm: int
    temperature_celsius: float
    rel_humidity_percent: float


@dataclass
class DayPlan:
    """One local day of a room, minute by minute."""

    people: list[float]
    # Air changes per hour through windows, doors and cracks: this air is cold.
    window_ach: list[float]
    # Air changes per hour by a ventilation system with heat recovery.
    mechanical_ach: list[float]
    heating_setpoint: list[float]

    @classmethod
    def empty(cls, setpoint: float) -> "DayPlan":
        n = MINUTES_PER_DAY
        return cls([0.0] * n, [_CLOSED_ACH] * n, [0.0] * n, [setpoint] * n)


@dataclass(frozen=True)
class RoomKind:
    volume_m3: float
    # Exhaled CO2 per person (m³/h): children less than adults, talking
    # and standing adults more than seated ones.
    co2_m3_per_person_h: float
    # Water vapour per person (g/h) that stays in the air; walls and
    # furniture buffer the rest.
    vapour_g_per_person_h: float
    plan: Callable[[date, Callable[[str], random.Random]], DayPlan]


def _minute(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _fill(values: list[float], start: str, end: str, value: float) -> None:
    """Set the minutes [start, end) of a day; an end of 24:00 ends the day."""
    for m in range(_minute(start), min(_minute(end), MINUTES_PER_DAY)):
        values[m] = value


# --- School class: lessons on weekdays, windows opened in the breaks ----------

_LESSONS = [
    ("08:00", "08:45"), ("08:50", "09:35"), ("09:55", "10:40"), ("10:45", "11:30"),
    ("11:50", "12:35"), ("12:40", "13:25"), ("13:35", "14:20"), ("14:25", "15:10"),
]
# The pupils leave the room in the breaks after these lessons.
_BIG_BREAK_AFTER = {1, 3, 5}


def _school_day(day: date, rng_for: Callable[[str], random.Random]) -> DayPlan:
    plan = DayPlan.empty(setpoint=17.0)
    if day.weekday() >= 5:
        return plan
    # The timetable repeats every week: the same weekday has the same
    # number of lessons and the same lessons away (sports, music).
    timetable = rng_for(f"timetable-{day.weekday()}")
    lessons = timetable.choice([6, 6, 7, 8]) if day.weekday() < 4 else 5
    away = set(timetable.sample(range(lessons), 2 if timetable.random() < 0.5 else 0))
    rng = rng_for(day.isoformat())
    pupils = 27 - rng.randint(0, 4) + 1.5  # the teacher breathes like 1.5 pupils
    _fill(plan.heating_setpoint, "06:00", "16:00", 21.0)
    for i, (start, end) in enumerate(_LESSONS[:lessons]):
        if i not in away:
            _fill(plan.people, start, end, pupils)
            # Sometimes a window stays tilted during the lesson.
            _fill(plan.window_ach, start, end, 1.5 if rng.random() < 0.25 else 0.4)
        if i + 1 < lessons:
            next_start = _LESSONS[i + 1][0]
            if i in _BIG_BREAK_AFTER:
                airing = rng.choices([10.0, 3.0, _CLOSED_ACH], weights=[45, 35, 20])[0]
            else:
                _fill(plan.people, end, next_start, pupils)
                airing = 4.0 if rng.random() < 0.3 else 0.4
            _fill(plan.window_ach, end, next_start, airing)
    if rng.random() < 0.7:  # the cleaners air the room
        _fill(plan.people, "16:00", "16:30", 1)
        _fill(plan.window_ach, "16:00", "16:20", 5.0)
    return plan


# --- Bar: open Tuesday to Sunday 18:00 to 01:00 -------------------------------

# The most guests of an evening, by weekday: Friday and Saturday are full.
_BAR_PEAK_GUESTS = {1: (18, 30), 2: (18, 30), 3: (18, 30), 4: (40, 55), 5: (40, 55), 6: (12, 20)}


def _bar_guests(day: date, rng: random.Random) -> list[float]:
    """Guests in each minute of the evening that starts at 18:00 on ``day``."""
    if day.weekday() == 0:
        return []
    peak = rng.uniform(*_BAR_PEAK_GUESTS[day.weekday()])
    wobble = [1 + 0.15 * rng.gauss(0, 1) for _ in range(14)]
    guests = []
    for m in range(7 * 60):
        shape = math.sin(math.pi * (m / 60 + 0.3) / 7.6) ** 1.5
        guests.append(max(0.0, peak * shape * wobble[m // 30]))
    return guests


def _bar_day(day: date, rng_for: Callable[[str], random.Random]) -> DayPlan:
    plan = DayPlan.empty(setpoint=18.0)
    yesterday = day - timedelta(days=1)
    # The evening that began yesterday ends after midnight.
    late = _bar_guests(yesterday, rng_for(yesterday.isoformat()))[6 * 60:]
    if late:
        staff = 2.0
        for m, guests in enumerate(late):
            plan.people[m] = guests + staff
        _fill(plan.people, "01:00", "01:30", staff)
        _fill(plan.window_ach, "00:00", "01:00", 2.5)  # the door opens all the time
        _fill(plan.window_ach, "01:00", "01:20", 8.0)  # airing after closing
        _fill(plan.heating_setpoint, "00:00", "01:00", 21.5)
    evening = _bar_guests(day, rng_for(day.isoformat()))
    if evening:
        _fill(plan.people, "17:30", "18:00", 2)
        _fill(plan.window_ach, "15:00", "15:20", 5.0)  # deliveries
        _fill(plan.window_ach, "18:00", "24:00", 2.5)
        _fill(plan.heating_setpoint, "17:00", "24:00", 21.5)
        for m, guests in enumerate(evening[: 6 * 60]):
            plan.people[_minute("18:00") + m] = guests + 2
    return plan


# --- Lecture hall: mechanical ventilation, lectures in 90-minute slots ----------

_SLOTS = [("08:15", "09:45"), ("10:15", "11:45"), ("12:15", "13:45"), ("14:15", "15:45"), ("16:15", "17:45")]


def _lecture_day(day: date, rng_for: Callable[[str], random.Random]) -> DayPlan:
    plan = DayPlan.empty(setpoint=17.0)
    if day.weekday() >= 5:
        return plan
    timetable = rng_for(f"timetable-{day.weekday()}")
    rng = rng_for(day.isoformat())
    _fill(plan.mechanical_ach, "07:00", "20:00", 3.0)
    _fill(plan.heating_setpoint, "06:00", "19:00", 20.5)
    for i, (start, end) in enumerate(_SLOTS):
        if timetable.random() < 0.25:
            continue
        # Audiences thin out in the afternoon and in the semester's course.
        audience = 200 * rng.uniform(0.4, 0.9) * (1 - 0.1 * i)
        begin, finish = _minute(start), _minute(end)
        for m in range(begin, finish):
            arriving = min(1.0, (m - begin + 1) / 10)
            leaving = min(1.0, (finish - m) / 5)
            plan.people[m] = audience * min(arriving, leaving)
    return plan


# Volumes as the demo's rooms: Klasse 5a, the Gastraum of Bar Lupe, Hörsaal 1.
ROOM_KINDS: dict[str, RoomKind] = {
    "school": RoomKind(
        volume_m3=60 * 3.2, co2_m3_per_person_h=0.013, vapour_g_per_person_h=18, plan=_school_day
    ),
    "bar": RoomKind(
        volume_m3=80 * 3.2, co2_m3_per_person_h=0.022, vapour_g_per_person_h=30, plan=_bar_day
    ),
    "lecture_hall": RoomKind(
        volume_m3=300 * 6.0, co2_m3_per_person_h=0.018, vapour_g_per_person_h=25, plan=_lecture_day
    ),
}


# --- Outdoor weather: Berlin's seasons and a day-to-day spread --------------------

def _saturation_vapour_g_m3(celsius: float) -> float:
    """Water vapour in saturated air (Magnus formula)."""
    hpa = 6.112 * math.exp(17.62 * celsius / (243.12 + celsius))
    return 216.7 * hpa / (celsius + 273.15)


def _outdoor(local: datetime, day_offset: float) -> tuple[float, float]:
    """Outdoor temperature (°C) and water vapour (g/m³)."""
    season = math.cos(2 * math.pi * (local.timetuple().tm_yday - 15) / 365)
    hour = local.hour + local.minute / 60
    celsius = 9.9 - 9.5 * season + 4.0 * math.cos(2 * math.pi * (hour - 15) / 24) + day_offset
    rel_humidity = 72.5 + 7.5 * season
    return celsius, rel_humidity / 100 * _saturation_vapour_g_m3(celsius)


# --- The simulation ------------------------------------------------------------------

def sample_curve(
    node_id: uuid.UUID, start: datetime, end: datetime, room_kind: str, seed: int = 0
) -> Iterator[DemoSample]:
    """One sample per full minute in [start, end) (aware datetimes) for a
    node in a room of the kind (a key of ``ROOM_KINDS``)."""
    kind = ROOM_KINDS[room_kind]

    def rng_for(key: str) -> random.Random:
        return random.Random(f"{seed}:{node_id}:{key}")

    co2_offset = rng_for("calibration").uniform(-15, 15)  # calibration error of this sensor
    first = start.replace(second=0, microsecond=0)
    if first < start:
        first += timedelta(minutes=1)
    # The simulation starts at the local midnight a day before ``start`` in
    # an empty, aired room; a day of ventilation washes that guess out. It
    # runs whole days, so each day draws the same random numbers in every
    # call, and overlapping windows agree.
    day = first.astimezone(BERLIN).date() - timedelta(days=1)
    moment = datetime.combine(day, time(), BERLIN).astimezone(UTC)
    co2 = OUTDOOR_CO2_PPM
    celsius = 18.0
    vapour = _outdoor(moment.astimezone(BERLIN), 0.0)[1]
    plan = noise = None
    weather_offset = 0.0
    plan_day = None
    one_minute = timedelta(minutes=1)
    while moment < end:
        local = moment.astimezone(BERLIN)
        if local.date() != plan_day:
            plan_day = local.date()
            plan = kind.plan(plan_day, rng_for)
            noise = rng_for(f"{plan_day.isoformat()}-noise")
            weather_offset = noise.gauss(0, 2.5)
        m = local.hour * 60 + local.minute
        people = plan.people[m]
        window = plan.window_ach[m]
        ach = window + plan.mechanical_ach[m]
        outdoor_celsius, outdoor_vapour = _outdoor(local, weather_offset)
        decay = math.exp(-ach * _STEP_H)

        co2_target = OUTDOOR_CO2_PPM + people * kind.co2_m3_per_person_h / kind.volume_m3 * 1e6 / ach
        co2 = co2_target + (co2 - co2_target) * decay
        vapour_source = people * kind.vapour_g_per_person_h / kind.volume_m3 + _BUILDING_VAPOUR_G_M3_H
        vapour_target = outdoor_vapour + vapour_source / ach
        vapour = vapour_target + (vapour - vapour_target) * decay

        # Heating holds the set-point; in summer the building stays warmer.
        setpoint = max(plan.heating_setpoint[m], outdoor_celsius + 3.0)
        warming = (setpoint - celsius) / 1.5 + 10.0 * people / kind.volume_m3
        cooling = 0.03 * window * (celsius - outdoor_celsius)
        celsius += (warming - cooling) * _STEP_H

        # Drawn for skipped minutes too, so a day's noise does not depend on
        # where the window starts.
        errors = (noise.gauss(0, 6), noise.gauss(0, 0.05), noise.gauss(0, 0.3))
        if moment >= first:
            relative = 100 * vapour / _saturation_vapour_g_m3(celsius)
            yield DemoSample(
                node_id,
                moment,
                max(0, round(co2 + co2_offset + errors[0])),
                round(celsius + errors[1], 1),
                round(min(95.0, max(5.0, relative + errors[2])), 1),
            )
        moment += one_minute
