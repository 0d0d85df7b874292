"""The admin for users, organizations and memberships."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.tests.factories import make_node, make_site, make_user
from user_manager.models import Membership, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.mark.parametrize("path", ["/admin/", "/admin/core/node/", "/admin/user_manager/user/"])
def test_non_staff_user_is_sent_to_the_login_page(client, owner, path):
    client.force_login(owner)
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_user_search_finds_by_email(staff_client, owner, inspector):
    response = staff_client.get("/admin/user_manager/user/", {"q": "OLGA@example.org"})
    assert list(response.context["cl"].result_list) == [owner]


def test_staff_adds_a_user_with_an_email_address(staff_client):
    response = staff_client.post(
        "/admin/user_manager/user/add/",
        {
            "username": "nora",
            "email": "nora@example.org",
            "usable_password": "true",
            "password1": "a long enough passphrase",
            "password2": "a long enough passphrase",
        },
    )
    assert response.status_code == 302
    assert User.objects.get(username="nora").email == "nora@example.org"


def test_organization_list_counts_members_nodes_and_sites(
    staff_client, organization, other_organization, owner, inspector
):
    make_node(owner=organization)
    make_node(owner=organization)
    make_site(operator=organization)
    response = staff_client.get("/admin/user_manager/organization/")
    counts = {o.name: (o.member_count, o.node_count, o.site_count) for o in response.context["cl"].result_list}
    assert counts == {organization.name: (2, 2, 1), other_organization.name: (0, 0, 0)}


def test_organization_page_costs_no_query_per_member(staff_client, organization, owner):
    url = f"/admin/user_manager/organization/{organization.pk}/change/"

    def queries_for_page():
        staff_client.get(url)  # fills per-process caches (content types)
        with CaptureQueriesContext(connection) as queries:
            page = staff_client.get(url).content.decode()
        return len(queries), page

    with_one, page = queries_for_page()
    for _ in range(4):
        make_user(organization=organization)
    with_five, _ = queries_for_page()
    assert with_five == with_one
    assert f'<option value="{owner.pk}" selected>{owner.username}</option>' in page


def test_user_page_lists_the_users_organizations(staff_client, owner, organization):
    page = staff_client.get(f"/admin/user_manager/user/{owner.pk}/change/").content.decode()
    assert f'<option value="{organization.pk}" selected>{organization.name}</option>' in page


def test_membership_list_finds_members_by_email(staff_client, owner, outsider):
    response = staff_client.get("/admin/user_manager/membership/", {"q": "otto@example.org"})
    assert [m.user for m in response.context["cl"].result_list] == [outsider]
    assert Membership.objects.count() == 2
