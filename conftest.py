"""Fixtures shared by every app's tests: factories and the usual cast of users."""

import pytest
from django.core.cache import cache

from core.tests.factories import (
    make_installation,
    make_node,
    make_organization,
    make_room,
    make_user,
)
from user_manager.models import Membership


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # Tests render templates without a collectstatic manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The production hasher costs ~0.2 s per password by design; the suite
    # creates thousands of users. Nothing here tests the hasher's strength.
    # The second one still checks the demo fixtures' passwords.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]


@pytest.fixture(autouse=True)
def _fresh_cache():
    # allauth keeps its rate limits in the cache, which outlives a test.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def organization(db):
    return make_organization(name="Bar Lupe")


@pytest.fixture
def other_organization(db):
    return make_organization(name="Schule am Park")


@pytest.fixture
def owner(organization):
    return make_user("olga", organization=organization, role=Membership.Role.OWNER)


@pytest.fixture
def inspector(organization):
    return make_user("ines", organization=organization, role=Membership.Role.INSPECTOR)


@pytest.fixture
def outsider(other_organization):
    return make_user("otto", organization=other_organization, role=Membership.Role.OWNER)


@pytest.fixture
def staff(db):
    return make_user("stella", is_staff=True, is_superuser=True)


@pytest.fixture
def node(organization):
    return make_node(owner=organization)


@pytest.fixture
def room(organization):
    return make_room(operator=organization)


@pytest.fixture
def installation(node, room):
    return make_installation(node=node, room=room)
