"""The typed readers behind every setting: good values pass, a typo stops the start."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from managair.env import env_bool, env_choice, env_int, env_list, env_secret, env_str


@pytest.fixture(autouse=True)
def _no_leftover_variables(monkeypatch):
    for name in ("MANAGAIR_X", "MANAGAIR_X_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("Yes", True), (" on ", True),
     ("0", False), ("FALSE", False), ("no", False), ("off", False), ("", False)],
)
def test_env_bool_accepts_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("MANAGAIR_X", raw)
    assert env_bool("MANAGAIR_X", default=not expected) is expected


def test_env_bool_falls_back_to_the_default_when_unset():
    assert env_bool("MANAGAIR_X", True) is True
    assert env_bool("MANAGAIR_X", False) is False


@pytest.mark.parametrize("raw", ["maybe", "2", "enabled", "tru"])
def test_env_bool_refuses_anything_else_and_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv("MANAGAIR_X", raw)
    with pytest.raises(ImproperlyConfigured, match=r"MANAGAIR_X must be a boolean.*" + raw):
        env_bool("MANAGAIR_X")


def test_env_int_reads_a_number_and_ignores_surrounding_blanks(monkeypatch):
    monkeypatch.setenv("MANAGAIR_X", " 5433 ")
    assert env_int("MANAGAIR_X", 5432) == 5433


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_env_int_uses_the_default_when_unset_or_blank(monkeypatch, raw):
    if raw is not None:
        monkeypatch.setenv("MANAGAIR_X", raw)
    assert env_int("MANAGAIR_X", 60) == 60


@pytest.mark.parametrize("raw", ["abc", "5432x", "1.5"])
def test_env_int_refuses_a_non_number_and_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv("MANAGAIR_X", raw)
    with pytest.raises(ImproperlyConfigured, match=r"MANAGAIR_X must be an integer"):
        env_int("MANAGAIR_X", 1)


def test_env_int_refuses_a_value_below_the_minimum(monkeypatch):
    monkeypatch.setenv("MANAGAIR_X", "0")
    with pytest.raises(ImproperlyConfigured, match=r"MANAGAIR_X must be at least 1"):
        env_int("MANAGAIR_X", 5432, minimum=1)


@pytest.mark.parametrize(
    "raw", ["a.example.org,b.example.org", "a.example.org b.example.org", " a.example.org , b.example.org ,"]
)
def test_env_list_splits_on_commas_and_spaces(monkeypatch, raw):
    monkeypatch.setenv("MANAGAIR_X", raw)
    assert env_list("MANAGAIR_X") == ["a.example.org", "b.example.org"]


def test_env_list_empty_value_means_an_empty_list_not_the_default(monkeypatch):
    monkeypatch.setenv("MANAGAIR_X", "")
    assert env_list("MANAGAIR_X", ["localhost"]) == []
    monkeypatch.delenv("MANAGAIR_X")
    assert env_list("MANAGAIR_X", ["localhost"]) == ["localhost"]


def test_env_choice_accepts_a_listed_value(monkeypatch):
    monkeypatch.setenv("MANAGAIR_X", "optional")
    assert env_choice("MANAGAIR_X", ["mandatory", "optional", "none"], "mandatory") == "optional"
    monkeypatch.delenv("MANAGAIR_X")
    assert env_choice("MANAGAIR_X", ["mandatory", "optional", "none"], "mandatory") == "mandatory"


def test_env_choice_refuses_an_unlisted_value_and_lists_the_choices(monkeypatch):
    monkeypatch.setenv("MANAGAIR_X", "sometimes")
    with pytest.raises(ImproperlyConfigured, match=r"MANAGAIR_X must be one of mandatory, optional, none"):
        env_choice("MANAGAIR_X", ["mandatory", "optional", "none"], "mandatory")


def test_env_str_returns_the_value_unchanged(monkeypatch):
    monkeypatch.setenv("MANAGAIR_X", "Managair <managair@example.org>")
    assert env_str("MANAGAIR_X") == "Managair <managair@example.org>"


def test_env_secret_reads_the_variable_itself(monkeypatch):
    monkeypatch.setenv("MANAGAIR_X", "s3cr3t-value")
    assert env_secret("MANAGAIR_X") == "s3cr3t-value"


def test_env_secret_reads_the_file_and_strips_the_trailing_newline(monkeypatch, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cr3t value with spaces\n", encoding="utf-8")
    monkeypatch.setenv("MANAGAIR_X_FILE", str(secret_file))
    assert env_secret("MANAGAIR_X") == "s3cr3t value with spaces"


def test_env_secret_refuses_both_the_variable_and_the_file(monkeypatch, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-file", encoding="utf-8")
    monkeypatch.setenv("MANAGAIR_X", "direct")
    monkeypatch.setenv("MANAGAIR_X_FILE", str(secret_file))
    with pytest.raises(ImproperlyConfigured, match=r"MANAGAIR_X or MANAGAIR_X_FILE, not both"):
        env_secret("MANAGAIR_X")


def test_env_secret_names_the_variable_when_the_file_is_missing(monkeypatch, tmp_path):
    missing = tmp_path / "no-such-secret"
    monkeypatch.setenv("MANAGAIR_X_FILE", str(missing))
    with pytest.raises(ImproperlyConfigured, match=r"MANAGAIR_X_FILE points to .*no-such-secret"):
        env_secret("MANAGAIR_X")


def test_env_secret_falls_back_to_the_default_when_neither_is_set():
    assert env_secret("MANAGAIR_X", "fallback") == "fallback"
