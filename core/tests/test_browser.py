"""The admin and the account pages in a real browser: headless Chromium
(Debian's package) driven by Selenium against pytest-django's live server.

Each step waits through the driver's implicit wait (for an element to
appear), never by sleeping.
"""

import shutil
from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Node, NodeFidelity, Sample, derive_node_id
from core.tests.factories import make_node, make_node_model, make_protocol, make_user

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip(
        "browser tests need Debian's chromium and chromium-driver packages (/usr/bin/chromium, /usr/bin/chromedriver)",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402  (only once the browser is known to be there)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

PASSWORD = "correct horse battery staple"  # the factories' default
WAIT_S = 5


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # --no-sandbox: Chromium refuses to run its sandbox as root (CI, containers).
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1024"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.implicitly_wait(WAIT_S)
    yield driver
    driver.quit()


@pytest.fixture
def visit(browser, live_server):
    """Open a path of the live server; every test starts logged out."""

    def open_path(path: str):
        browser.get(live_server.url + path)
        return browser

    yield open_path
    browser.delete_all_cookies()


def _log_into_admin(visit, user) -> None:
    page = visit("/admin/login/?next=/admin/")
    page.find_element(By.ID, "id_username").send_keys(user.username)
    page.find_element(By.ID, "id_password").send_keys(PASSWORD + Keys.ENTER)
    assert page.find_element(By.ID, "user-tools").text.upper().startswith(f"WELCOME, {user.username.upper()}")


def test_staff_adds_a_node_and_sees_its_chart_and_status(visit, staff, organization):
    protocol, model = make_protocol(), make_node_model()
    _log_into_admin(visit, staff)
    page = visit("/admin/core/node/add/")
    page.find_element(By.ID, "id_eui64").send_keys("70B3D5FFFE1C0003")
    page.find_element(By.ID, "id_alias").send_keys("Kitchen")
    Select(page.find_element(By.ID, "id_protocol")).select_by_visible_text(protocol.identifier)
    Select(page.find_element(By.ID, "id_model")).select_by_visible_text(model.name)
    # The owner is an autocomplete box: open it, search, pick the answer.
    page.find_element(By.CSS_SELECTOR, ".field-owner .select2-selection").click()
    page.find_element(By.CSS_SELECTOR, ".select2-container--open .select2-search__field").send_keys("Lupe")
    answer = f"//li[contains(@class, 'select2-results__option') and text()='{organization.name}']"
    page.find_element(By.XPATH, answer).click()
    page.find_element(By.NAME, "_continue").click()

    expected_id = derive_node_id("CLAIRCHEN", "70b3d5fffe1c0003")
    assert "was added successfully" in page.find_element(By.CSS_SELECTOR, ".messagelist").text
    assert page.current_url.endswith(f"/admin/core/node/{expected_id}/change/")
    chart = page.find_element(By.CSS_SELECTOR, "svg.co2-chart")
    assert "No samples in the last 7 days" in chart.text
    assert page.find_element(By.CSS_SELECTOR, ".field-fidelity_status .fidelity-badge").text == "not checked yet"
    assert Node.objects.get(pk=expected_id).owner == organization


def test_node_with_samples_shows_a_line_and_a_coloured_badge(visit, staff, node):
    NodeFidelity.objects.create(node=node, fidelity=NodeFidelity.Status.ALIVE, last_contact=timezone.now())
    now = timezone.now()
    # One sample in each of the last three hours: three hourly means in a row.
    for hours_ago, co2 in [(3, 600), (2, 900), (1, 750)]:
        Sample.objects.create(node=node, timestamp=now - timedelta(hours=hours_ago), co2_ppm=co2)
    _log_into_admin(visit, staff)
    page = visit(f"/admin/core/node/{node.pk}/change/")

    line = page.find_element(By.CSS_SELECTOR, "svg.co2-chart polyline")
    assert len(line.get_attribute("points").split()) == 3
    labels = [label.text for label in page.find_elements(By.CSS_SELECTOR, "svg.co2-chart text.min, text.max")]
    assert sorted(labels) == ["600 ppm", "900 ppm"]
    badge = page.find_element(By.CSS_SELECTOR, ".field-fidelity_status .fidelity-badge")
    assert badge.text == "alive"
    # Coloured: the admin's stylesheet reached the browser.
    assert badge.value_of_css_property("background-color") not in ("rgba(0, 0, 0, 0)", "transparent")


def test_node_list_shows_a_badge_for_each_status(visit, staff, organization):
    for alias, status in [("Alive one", "E"), ("Dead one", "D")]:
        NodeFidelity.objects.create(node=make_node(owner=organization, alias=alias), fidelity=status)
    _log_into_admin(visit, staff)
    page = visit("/admin/core/node/?o=2")
    badges = page.find_elements(By.CSS_SELECTOR, "#result_list .fidelity-badge")
    assert [badge.text for badge in badges] == ["alive", "dead"]
    colours = {badge.value_of_css_property("background-color") for badge in badges}
    assert len(colours) == 2


def _log_in_to_account(visit, login: str, password: str):
    page = visit("/accounts/login/")
    page.find_element(By.ID, "id_login").send_keys(login)
    page.find_element(By.ID, "id_password").send_keys(password + Keys.ENTER)
    return page


def _wait_to_leave(page, url: str) -> None:
    WebDriverWait(page, WAIT_S).until(expected_conditions.url_changes(url))


def test_user_logs_in_on_the_account_page(visit, live_server, owner):
    page = _log_in_to_account(visit, owner.username, PASSWORD)
    _wait_to_leave(page, live_server.url + "/accounts/login/")
    page = visit("/accounts/email/")
    # Only a logged-in user sees their addresses; others are sent to the login form.
    assert page.current_url.endswith("/accounts/email/")
    assert owner.email in page.find_element(By.TAG_NAME, "main").text
    assert page.find_element(By.LINK_TEXT, "Sign Out")


def test_user_lands_on_their_account_page_after_logging_in(visit, live_server, owner):
    page = _log_in_to_account(visit, owner.username, PASSWORD)
    _wait_to_leave(page, live_server.url + "/accounts/login/")
    assert "Not Found" not in page.title
    assert page.current_url == live_server.url + "/accounts/email/"


def test_user_logging_in_with_next_lands_there(visit, live_server, owner):
    page = visit("/accounts/login/?next=/accounts/password/change/")
    page.find_element(By.ID, "id_login").send_keys(owner.username)
    page.find_element(By.ID, "id_password").send_keys(PASSWORD + Keys.ENTER)
    _wait_to_leave(page, live_server.url + "/accounts/login/?next=/accounts/password/change/")
    assert page.current_url == live_server.url + "/accounts/password/change/"
    assert page.find_element(By.ID, "id_oldpassword")


def test_wrong_password_is_refused_with_a_message(visit, owner):
    page = _log_in_to_account(visit, owner.username, "not the password")
    error = page.find_element(By.CSS_SELECTOR, ".errorlist")
    assert "not correct" in error.text
    assert page.current_url.endswith("/accounts/login/")
    visit("/accounts/email/")
    assert "/accounts/login/" in page.current_url


def test_user_can_sign_in_by_email_address_too(visit, live_server):
    user = make_user("maria")
    page = _log_in_to_account(visit, user.email, PASSWORD)
    _wait_to_leave(page, live_server.url + "/accounts/login/")
    visit("/accounts/email/")
    assert page.current_url.endswith("/accounts/email/")
