import io
import uuid
from datetime import UTC, datetime, timedelta
from statistics import mean

import pytest
import time_machine
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db.models import Count, Exists, Max, Min, OuterRef
from rest_framework.test import APIClient

from core.demo import BERLIN, sample_curve
from core.limits import SAMPLE_LIMITS
from core.models import Installation, Node, NodeFidelity, Sample, Site, derive_node_id
from core.timestamps import END_OF_TIME
from user_manager.models import Membership, Organization, User

# Two days back from here cross the change to summer time (30 March 2025).
NOW = datetime(2025, 3, 31, 9, 41, 27, tzinfo=UTC)
NEWEST = NOW.replace(second=0)
SAMPLES_PER_NODE = 2 * 24 * 60


def load_demo(*args: str) -> str:
    out = io.StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("load_demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def demo(db):
    return load_demo("--days", "2")


def test_demo_has_three_organizations_each_with_an_owner_and_an_inspector(demo):
    assert Organization.objects.count() == 3
    for organization in Organization.objects.all():
        roles = set(organization.memberships.values_list("role", flat=True))
        assert roles == {Membership.Role.OWNER, Membership.Role.INSPECTOR}, organization


def test_demo_admin_is_a_staff_superuser(demo):
    admin = authenticate(username="admin", password="managair-admin")
    assert admin is not None and admin.is_staff and admin.is_superuser


def test_demo_owner_logs_in_with_the_documented_password(demo):
    owner = authenticate(username="lupe-owner", password="managair-demo")
    assert owner is not None
    assert owner.memberships.get().is_owner
    assert authenticate(username="lupe-owner", password="managair-admin") is None


def test_demo_user_logs_in_by_email_despite_mandatory_verification(demo):
    client = APIClient()
    response = client.post(
        "/api/v1/auth/login/", {"email": "schule-owner@example.org", "password": "managair-demo"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert client.cookies["sessionid"].value


def test_load_demo_prints_the_logins(demo):
    assert "lupe-owner" in demo and "managair-demo" in demo
    assert "admin" in demo and "managair-admin" in demo


def test_demo_node_ids_are_those_clair_ttn_derives(demo):
    nodes = Node.objects.select_related("protocol")
    assert nodes.count() >= 4
    for node in nodes:
        assert node.id == derive_node_id(node.protocol.identifier, node.eui64)


def test_demo_installations_are_public_and_private_finished_and_open_ended(demo):
    installations = Installation.objects.all()
    assert any(i.is_public for i in installations)
    assert any(not i.is_public for i in installations)
    assert any(i.to_time == END_OF_TIME for i in installations)
    assert any(i.to_time < NOW for i in installations)


def test_demo_sites_are_in_berlin_with_coordinates(demo):
    for site in Site.objects.select_related("address"):
        assert site.address.city == "Berlin"
        assert 52.3 < site.address.latitude < 52.7 and 13.0 < site.address.longitude < 13.8


def test_demo_samples_are_one_per_minute_up_to_now(demo):
    per_node = Sample.objects.values("node").annotate(n=Count("id"), first=Min("timestamp"), last=Max("timestamp"))
    assert len(per_node) >= 3
    for row in per_node:
        assert row["n"] == SAMPLES_PER_NODE
        assert row["last"] == NEWEST
        # With the (node, timestamp) pair unique, this span leaves room for
        # exactly one sample a minute.
        assert row["last"] - row["first"] == timedelta(minutes=SAMPLES_PER_NODE - 1)


def test_demo_samples_are_within_limits_and_plausible(demo):
    plausible = {"co2_ppm": (350, 5000), "temperature_celsius": (10, 38), "rel_humidity_percent": (10, 90)}
    for field, (lowest, highest) in plausible.items():
        extremes = Sample.objects.aggregate(low=Min(field), high=Max(field))
        limit = SAMPLE_LIMITS[field]
        assert limit.minimum <= extremes["low"] and extremes["high"] <= limit.maximum
        assert lowest <= extremes["low"] and extremes["high"] <= highest, (field, extremes)


def test_demo_samples_fall_inside_an_installation_of_their_node(demo):
    covering = Installation.objects.filter(
        node=OuterRef("node"), from_time__lte=OuterRef("timestamp"), to_time__gt=OuterRef("timestamp")
    )
    assert Sample.objects.exists()
    assert not Sample.objects.filter(~Exists(covering)).exists()


def test_demo_nodes_last_contact_is_their_newest_sample(demo):
    node_ids = Sample.objects.order_by().values_list("node", flat=True).distinct()
    assert len(node_ids) >= 3
    for node_id in node_ids:
        assert NodeFidelity.objects.get(node_id=node_id).last_contact == NEWEST


def test_loading_the_demo_twice_changes_nothing(demo):
    before = list(Sample.objects.order_by("node", "timestamp").values_list(
        "node", "timestamp", "co2_ppm", "temperature_celsius", "rel_humidity_percent"))
    output = load_demo("--days", "2")
    assert "0 new" in output
    after = list(Sample.objects.order_by("node", "timestamp").values_list(
        "node", "timestamp", "co2_ppm", "temperature_celsius", "rel_humidity_percent"))
    assert after == before
    assert (User.objects.count(), Organization.objects.count(), Installation.objects.count()) == (7, 3, 8)


def test_load_demo_without_samples_loads_only_the_inventory(db):
    load_demo("--no-samples")
    assert Node.objects.exists()
    assert not Sample.objects.exists()


def test_load_demo_refuses_to_overwrite_another_user(db):
    User.objects.create_user(pk=2, username="real-person", password="secret password 123")
    with pytest.raises(CommandError, match="real-person"):
        load_demo("--no-samples")
    assert User.objects.get(pk=2).username == "real-person"


# --- The curves themselves ---------------------------------------------------------

NODE = uuid.UUID("00000000-0000-4000-8000-000000000001")
# Two winter weeks, Monday to Monday in Berlin.
FORTNIGHT = (datetime(2025, 1, 6, tzinfo=BERLIN), datetime(2025, 1, 20, tzinfo=BERLIN))


def co2_at(samples, hour: int, weekdays: set[int]) -> float:
    return mean(
        s.co2_ppm for s in samples
        if (local := s.timestamp.astimezone(BERLIN)).hour == hour and local.minute == 0 and local.weekday() in weekdays
    )


def test_school_room_co2_is_far_higher_at_ten_on_weekdays_than_at_three_at_night():
    samples = list(sample_curve(NODE, *FORTNIGHT, "school"))
    weekdays = {0, 1, 2, 3, 4}
    assert co2_at(samples, 10, weekdays) > co2_at(samples, 3, weekdays) + 400


def test_empty_rooms_air_out_towards_outdoor_co2():
    samples = list(sample_curve(NODE, *FORTNIGHT, "school"))
    assert 380 < co2_at(samples, 3, set(range(7))) < 470
    assert 380 < co2_at(samples, 12, {5, 6}) < 470


def test_bar_co2_peaks_on_weekend_evenings():
    samples = list(sample_curve(NODE, *FORTNIGHT, "bar"))
    assert co2_at(samples, 22, {4, 5}) > co2_at(samples, 22, {1, 2, 3}) > co2_at(samples, 12, set(range(7))) + 300


def test_occupied_rooms_are_warmer_and_more_humid():
    samples = list(sample_curve(NODE, *FORTNIGHT, "school"))
    occupied = [s for s in samples if s.co2_ppm > 1500]
    empty = [s for s in samples if s.co2_ppm < 450]
    assert mean(s.temperature_celsius for s in occupied) > mean(s.temperature_celsius for s in empty) + 1
    assert mean(s.rel_humidity_percent for s in occupied) > mean(s.rel_humidity_percent for s in empty) + 3


def test_sample_curve_is_repeatable_and_a_later_window_continues_it():
    start, end = FORTNIGHT
    first = list(sample_curve(NODE, start, end, "lecture_hall", seed=7))
    assert first == list(sample_curve(NODE, start, end, "lecture_hall", seed=7))
    assert first != list(sample_curve(NODE, start, end, "lecture_hall", seed=8))
    later = list(sample_curve(NODE, start + timedelta(days=3, minutes=17), end, "lecture_hall", seed=7))
    assert later == first[-len(later):]
