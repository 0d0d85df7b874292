"""Installations: a node is in one room at a time, and only in its owner's rooms.

PostgreSQL holds both rules itself (migration 0002: an exclusion constraint
and a trigger), so no code path can break them; ``clean()`` repeats them so
that forms and the API can name the offending field.
"""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from core.models import Installation, Node, Room, Site
from core.tests.factories import make_installation, make_node, make_room, make_site
from core.timestamps import END_OF_TIME

JANUARY = datetime(2024, 1, 1, tzinfo=UTC)
FEBRUARY = datetime(2024, 2, 1, tzinfo=UTC)
MARCH = datetime(2024, 3, 1, tzinfo=UTC)
APRIL = datetime(2024, 4, 1, tzinfo=UTC)

OVERLAP = "installation_no_overlap_per_node"
FOREIGN_ROOM = "node and room belong to different organizations"


@pytest.fixture
def second_room(organization):
    return make_room(operator=organization)


@pytest.fixture
def foreign_room(other_organization):
    return make_room(operator=other_organization)


def test_installation_without_an_end_is_open_ended(installation):
    assert installation.to_time == END_OF_TIME
    assert installation.is_open_ended


def test_second_open_ended_installation_of_a_node_is_refused(node, room, second_room):
    make_installation(node, room, from_time=JANUARY)
    with pytest.raises(IntegrityError, match=OVERLAP), transaction.atomic():
        make_installation(node, second_room, from_time=MARCH)
    assert node.installations.count() == 1


def test_installation_reaching_into_an_open_ended_one_is_refused(node, room, second_room):
    make_installation(node, room, from_time=FEBRUARY)
    with pytest.raises(IntegrityError, match=OVERLAP), transaction.atomic():
        make_installation(node, second_room, from_time=JANUARY, to_time=MARCH)


def test_installation_within_another_is_refused(node, room, second_room):
    make_installation(node, room, from_time=JANUARY, to_time=APRIL)
    with pytest.raises(IntegrityError, match=OVERLAP), transaction.atomic():
        make_installation(node, second_room, from_time=FEBRUARY, to_time=MARCH)


def test_installation_in_the_same_room_at_an_overlapping_time_is_refused(node, room):
    make_installation(node, room, from_time=JANUARY, to_time=MARCH)
    with pytest.raises(IntegrityError, match=OVERLAP), transaction.atomic():
        make_installation(node, room, from_time=FEBRUARY, to_time=APRIL)


def test_extending_an_installation_into_the_next_one_is_refused(node, room, second_room):
    first = make_installation(node, room, from_time=JANUARY, to_time=FEBRUARY)
    make_installation(node, second_room, from_time=FEBRUARY, to_time=MARCH)
    with pytest.raises(IntegrityError, match=OVERLAP), transaction.atomic():
        Installation.objects.filter(pk=first.pk).update(to_time=MARCH)


def test_node_may_move_to_the_next_room_the_moment_it_leaves_the_first(node, room, second_room):
    make_installation(node, room, from_time=JANUARY, to_time=FEBRUARY)
    make_installation(node, second_room, from_time=FEBRUARY)
    assert node.installations.count() == 2


def test_earlier_installation_may_end_the_moment_a_later_one_begins(node, room, second_room):
    make_installation(node, second_room, from_time=FEBRUARY)
    make_installation(node, room, from_time=JANUARY, to_time=FEBRUARY)
    assert node.installations.count() == 2


def test_two_nodes_may_share_a_room_at_the_same_time(organization, node, room):
    neighbour = make_node(owner=organization)
    make_installation(node, room, from_time=JANUARY)
    make_installation(neighbour, room, from_time=JANUARY)
    assert room.installations.count() == 2


@pytest.mark.parametrize("to_time", [JANUARY, datetime(2023, 12, 31, tzinfo=UTC)], ids=["same-moment", "earlier"])
def test_installation_must_end_after_it_starts(node, room, to_time):
    with pytest.raises(IntegrityError, match="installation_starts_before_it_ends"), transaction.atomic():
        make_installation(node, room, from_time=JANUARY, to_time=to_time)


def test_node_cannot_be_installed_in_another_organizations_room(node, foreign_room):
    with pytest.raises(IntegrityError, match=FOREIGN_ROOM), transaction.atomic():
        make_installation(node, foreign_room)
    assert not Installation.objects.exists()


def test_installation_cannot_be_moved_into_another_organizations_room(installation, foreign_room):
    with pytest.raises(IntegrityError, match=FOREIGN_ROOM), transaction.atomic():
        Installation.objects.filter(pk=installation.pk).update(room=foreign_room)
    installation.refresh_from_db()
    assert installation.room.site.operator == installation.node.owner


def test_installation_cannot_be_given_another_organizations_node(installation, other_organization):
    foreign_node = make_node(owner=other_organization)
    with pytest.raises(IntegrityError, match=FOREIGN_ROOM), transaction.atomic():
        Installation.objects.filter(pk=installation.pk).update(node=foreign_node)


def test_installation_may_move_to_another_room_of_the_same_organization(installation, second_room):
    Installation.objects.filter(pk=installation.pk).update(room=second_room)
    installation.refresh_from_db()
    assert installation.room == second_room


# clean(): the same rules as validation errors on the field a form shows.


def _error_fields(installation: Installation) -> set[str]:
    with pytest.raises(ValidationError) as raised:
        installation.full_clean()
    return set(raised.value.error_dict)


def test_clean_reports_an_overlap_on_the_start(node, room, second_room):
    make_installation(node, room, from_time=JANUARY)
    overlapping = Installation(node=node, room=second_room, from_time=MARCH)
    assert "from_time" in _error_fields(overlapping)
    assert node.installations.count() == 1


def test_clean_reports_an_end_before_the_start_on_the_end(node, room):
    backwards = Installation(node=node, room=room, from_time=FEBRUARY, to_time=JANUARY)
    assert "to_time" in _error_fields(backwards)


def test_clean_reports_another_organizations_room_on_the_room(node, foreign_room):
    misplaced = Installation(node=node, room=foreign_room, from_time=JANUARY)
    assert _error_fields(misplaced) == {"room"}


def test_clean_accepts_back_to_back_installations(node, room, second_room):
    make_installation(node, room, from_time=JANUARY, to_time=FEBRUARY)
    Installation(node=node, room=second_room, from_time=FEBRUARY).full_clean()


def test_clean_accepts_another_node_in_the_same_span(organization, installation):
    neighbour = make_node(owner=organization)
    Installation(node=neighbour, room=installation.room, from_time=installation.from_time).full_clean()


def test_editing_an_installation_does_not_collide_with_itself(installation):
    installation.description = "Behind the bar, away from the window"
    installation.full_clean()
    installation.save()
    installation.refresh_from_db()
    assert installation.description == "Behind the bar, away from the window"


def test_clean_reports_an_edit_that_overlaps_a_later_installation(node, room, second_room):
    first = make_installation(node, room, from_time=JANUARY, to_time=FEBRUARY)
    make_installation(node, second_room, from_time=FEBRUARY)
    first.to_time = MARCH
    assert "from_time" in _error_fields(first)


# Moving the other end: the node or the site changes organization.


def _refused(write) -> bool:
    try:
        with transaction.atomic():
            write()
    except IntegrityError:
        return True
    return False


@pytest.mark.parametrize("moved", ["node owner", "site operator", "room site"])
def test_installed_node_or_room_cannot_change_organization(installation, other_organization, moved):
    # Otherwise the other organization's node would report into this
    # organization's room, and each would see the other's data.
    if moved == "node owner":
        nodes = Node.objects.filter(pk=installation.node_id)
        refused = _refused(lambda: nodes.update(owner=other_organization))
    elif moved == "site operator":
        sites = Site.objects.filter(pk=installation.room.site_id)
        refused = _refused(lambda: sites.update(operator=other_organization))
    else:
        rooms = Room.objects.filter(pk=installation.room_id)
        refused = _refused(lambda: rooms.update(site=make_site(operator=other_organization)))
    assert refused, f"changing the {moved} of an installed node or room must be refused"


def test_clean_explains_why_an_installed_node_cannot_change_owner(installation, other_organization):
    node = installation.node
    node.owner = other_organization
    with pytest.raises(ValidationError) as refused:
        node.full_clean()
    assert "owner" in refused.value.message_dict


def test_clean_explains_why_a_site_with_installations_cannot_change_operator(installation, other_organization):
    site = installation.room.site
    site.operator = other_organization
    with pytest.raises(ValidationError) as refused:
        site.full_clean()
    assert "operator" in refused.value.message_dict


def test_clean_lets_a_room_move_between_sites_of_its_organization(installation, organization, other_organization):
    room = installation.room
    room.site = make_site(operator=other_organization)
    with pytest.raises(ValidationError) as refused:
        room.full_clean()
    assert "site" in refused.value.message_dict
    room.site = make_site(operator=organization)
    room.full_clean()
    room.save()
