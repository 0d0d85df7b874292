"""The task cluster's schedules exist as soon as the database is migrated."""

import pytest
from django.utils.module_loading import import_string
from django_q.models import Schedule

from core.schedules import ensure_schedules, scheduled


@pytest.mark.django_db
def test_migrating_leaves_every_schedule_in_place():
    # The test database was migrated: post_migrate ran.
    for every in scheduled():
        schedule = Schedule.objects.get(name=every.name)
        assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
            every.func, Schedule.MINUTES, every.minutes, -1,
        )  # fmt: skip


@pytest.mark.django_db
def test_migrating_again_neither_duplicates_nor_postpones_a_schedule():
    schedule = Schedule.objects.get(name=scheduled()[0].name)
    Schedule.objects.filter(pk=schedule.pk).update(minutes=99)
    next_run = schedule.next_run
    ensure_schedules()
    ensure_schedules()
    again = Schedule.objects.get(name=schedule.name)
    assert again.minutes == scheduled()[0].minutes
    assert again.next_run == next_run
    assert Schedule.objects.filter(name=schedule.name).count() == 1


@pytest.mark.django_db
def test_scheduled_functions_can_be_imported():
    for every in scheduled():
        assert callable(import_string(every.func))


# The names the admin shows.
FIDELITY_CHECK = "Check node fidelity"


@pytest.mark.django_db
def test_node_fidelity_setting_schedules_the_fidelity_check_at_its_interval(settings):
    settings.NODE_FIDELITY, settings.FIDELITY_CHECK_MINUTES = True, 7
    ensure_schedules()
    ensure_schedules()
    [schedule] = Schedule.objects.filter(name=FIDELITY_CHECK)
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "core.fidelity.scheduled_check", Schedule.MINUTES, 7, -1,
    )  # fmt: skip


@pytest.mark.django_db
def test_switching_node_fidelity_off_removes_only_the_fidelity_check(settings):
    settings.NODE_FIDELITY = True
    ensure_schedules()
    settings.NODE_FIDELITY = False
    ensure_schedules()
    ensure_schedules()
    assert not Schedule.objects.filter(name=FIDELITY_CHECK).exists()
    assert Schedule.objects.filter(name="Refresh hourly summaries").count() == 1


@pytest.mark.django_db
def test_changing_the_fidelity_interval_corrects_the_schedule_without_postponing_it(settings):
    settings.NODE_FIDELITY, settings.FIDELITY_CHECK_MINUTES = True, 5
    ensure_schedules()
    next_run = Schedule.objects.get(name=FIDELITY_CHECK).next_run
    settings.FIDELITY_CHECK_MINUTES = 15
    ensure_schedules()
    schedule = Schedule.objects.get(name=FIDELITY_CHECK)
    assert (schedule.minutes, schedule.next_run) == (15, next_run)
