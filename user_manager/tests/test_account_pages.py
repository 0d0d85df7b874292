import pytest


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("de", ["Raumluftqualität – gemessen und im Griff.", "Anmelden", "Passwort"]),
        ("en", ["Indoor air quality, measured and managed.", "Sign In", "Password"]),
    ],
)
def test_login_page_speaks_the_browsers_language(client, language, expected):
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    page = response.content.decode()
    for text in expected:
        assert text in page


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/signup/", "/accounts/password/reset/"])
def test_account_pages_render_in_german(client, path):
    response = client.get(path, HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 200
    assert 'lang="de"' in response.content.decode()
    assert "Registrieren" in response.content.decode()


def test_owner_logs_in_through_the_account_page(client, owner):
    response = client.post(
        "/accounts/login/",
        {"login": owner.username, "password": "correct horse battery staple"},
    )
    assert response.status_code == 302
    assert client.session.get("_auth_user_id") == str(owner.pk)


def test_unverified_user_is_asked_to_confirm_the_address_first(client, owner):
    owner.emailaddress_set.update(verified=False)
    response = client.post(
        "/accounts/login/",
        {"login": owner.username, "password": "correct horse battery staple"},
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/confirm-email/")
    assert "_auth_user_id" not in client.session
