import pytest
from django.core.exceptions import ImproperlyConfigured

from reviewapp.core.env import env_bool, env_int, env_list, env_str


def test_it_parses_booleans_strictly(monkeypatch):
    monkeypatch.setenv("FLAG", "yes")
    assert env_bool("FLAG", default=False) is True
    monkeypatch.setenv("FLAG", "off")
    assert env_bool("FLAG", default=True) is False
    monkeypatch.setenv("FLAG", "ture")
    with pytest.raises(ImproperlyConfigured, match="FLAG='ture' is not a boolean"):
        env_bool("FLAG", default=False)


def test_it_refuses_a_number_that_is_not_one_or_too_small(monkeypatch):
    monkeypatch.setenv("LEASE", "5m")
    with pytest.raises(ImproperlyConfigured, match="LEASE='5m' is not a whole number"):
        env_int("LEASE", 600)
    monkeypatch.setenv("LEASE", "3")
    with pytest.raises(ImproperlyConfigured, match="at least 10"):
        env_int("LEASE", 600, minimum=10)
    monkeypatch.delenv("LEASE")
    assert env_int("LEASE", 600) == 600


def test_it_reads_secrets_from_a_file_but_not_from_both(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("TOKEN_FILE", str(secret))
    assert env_str("TOKEN") == "s3cret"
    monkeypatch.setenv("TOKEN", "inline")
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env_str("TOKEN")


def test_it_requires_a_variable_without_default_and_splits_lists(monkeypatch):
    monkeypatch.delenv("MISSING", raising=False)
    with pytest.raises(ImproperlyConfigured, match="MISSING is required"):
        env_str("MISSING")
    monkeypatch.setenv("HOSTS", "a.example, b.example,,")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]
