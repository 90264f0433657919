"""Configuration: read from the environment only, every variable documented."""
from pathlib import Path

import pytest

from gateway.config import SETTINGS_DOC, ConfigurationError, Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_environment_overrides_defaults():
    settings = Settings.from_env({"HAPI_BASE_URL": "http://hapi:8080/fhir/", "GATEWAY_MAX_ENTRIES": "10"})
    assert settings.hapi_base_url == "http://hapi:8080/fhir"
    assert settings.max_entries == 10
    assert settings.hapi_read_timeout == Settings().hapi_read_timeout


def test_no_gunicorn_control_socket_unless_the_instance_is_given_its_own():
    assert Settings.from_env({}).control_socket is None
    assert Settings.from_env({"GATEWAY_CONTROL_SOCKET": "/run/tddui/gateway-a.ctl"}).control_socket == \
        Path("/run/tddui/gateway-a.ctl")


def test_malformed_value_names_the_variable():
    with pytest.raises(ConfigurationError, match="HAPI_READ_TIMEOUT"):
        Settings.from_env({"HAPI_READ_TIMEOUT": "soon"})


def test_every_variable_is_documented_in_the_readme():
    readme = README.read_text()
    missing = [name for name in SETTINGS_DOC if f"`{name}`" not in readme]
    assert not missing, f"README lacks {missing}"


def test_admin_credentials_are_sha256_digests_and_retention_at_least_a_day():
    digest = "A" * 64
    settings = Settings.from_env({"GATEWAY_ADMIN_KEY_SHA256": f"{digest}, {'b' * 64}"})
    assert settings.admin_key_sha256 == ("a" * 64, "b" * 64)
    assert Settings().admin_key_sha256 == () and Settings().audit_retention_days == 183
    with pytest.raises(ConfigurationError, match="GATEWAY_ADMIN_KEY_SHA256"):
        Settings.from_env({"GATEWAY_ADMIN_KEY_SHA256": "secret-in-clear"})
    with pytest.raises(ConfigurationError, match="GATEWAY_AUDIT_RETENTION_DAYS"):
        Settings.from_env({"GATEWAY_AUDIT_RETENTION_DAYS": "0"})


def test_the_default_release_is_the_newest_described_one(tmp_path):
    assert Settings.from_env({}).implementation_guide == "ans.fhir.fr.tddui#2.0.0"  # after 2.0.0-ballot
    (tmp_path / "ans.fhir.fr.tddui-2.0.0-ballot.toml").write_text('package = "ans.fhir.fr.tddui#2.0.0-ballot"\n')
    assert Settings.from_env({"TDDUI_DESCRIPTOR_DIR": str(tmp_path)}).implementation_guide == \
        "ans.fhir.fr.tddui#2.0.0-ballot"
    with pytest.raises(ConfigurationError, match="holds no release descriptor"):
        Settings.from_env({"TDDUI_DESCRIPTOR_DIR": str(tmp_path / "empty")})
