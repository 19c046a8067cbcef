"""Settings come from the environment and an optional config file; secrets are never shown."""

from __future__ import annotations

import pytest

from odyssai.errors import ConfigError
from odyssai.settings import load_settings


def test_defaults_bind_to_loopback_under_the_odysseus_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("ODYSSAI_HOME", raising=False)
    s = load_settings()
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.topology_path == tmp_path / ".odysseus" / "topology.yaml"


def test_the_environment_wins_over_the_config_file(monkeypatch, tmp_path):
    monkeypatch.setenv("ODYSSAI_HOME", str(tmp_path))
    (tmp_path / "config.yaml").write_text("port: 9001\nlog_level: debug\n")
    monkeypatch.setenv("ODYSSAI_PORT", "9002")
    s = load_settings()
    assert s.port == 9002 and s.log_level == "debug"


def test_the_api_key_is_masked_when_shown(monkeypatch, tmp_path):
    monkeypatch.setenv("ODYSSAI_HOME", str(tmp_path))
    monkeypatch.setenv("ODYSSAI_API_KEY", "sk-very-secret")
    shown = load_settings().public()
    assert "sk-very-secret" not in str(shown) and shown["api_key"] == "**********"


def test_a_bad_value_is_a_one_line_error_naming_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("ODYSSAI_HOME", str(tmp_path))
    monkeypatch.setenv("ODYSSAI_PORT", "eighty")
    with pytest.raises(ConfigError, match="ODYSSAI_PORT"):
        load_settings()


def test_a_config_file_named_by_odyssai_config_that_is_missing_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("ODYSSAI_HOME", str(tmp_path))
    monkeypatch.setenv("ODYSSAI_CONFIG", str(tmp_path / "nosuch.yaml"))
    with pytest.raises(ConfigError, match="ODYSSAI_CONFIG names .*nosuch.yaml, which does not exist"):
        load_settings()


def test_without_a_config_file_in_the_home_the_defaults_apply(monkeypatch, tmp_path):
    monkeypatch.setenv("ODYSSAI_HOME", str(tmp_path))
    monkeypatch.delenv("ODYSSAI_CONFIG", raising=False)
    assert load_settings().port == 8000


def test_a_config_file_that_cannot_be_read_is_a_one_line_error_naming_it(monkeypatch, tmp_path):
    monkeypatch.setenv("ODYSSAI_HOME", str(tmp_path))
    monkeypatch.delenv("ODYSSAI_CONFIG", raising=False)
    (tmp_path / "config.yaml").mkdir()
    with pytest.raises(ConfigError, match="config.yaml: cannot be read"):
        load_settings()
