"""Instance settings: production refuses development secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seal_service.errors import ConfigurationError
from seal_service.settings import DEVELOPMENT_PASSPHRASE, Settings


@pytest.fixture(autouse=True)
def _no_instance_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests state what the settings are; an instance set in the caller's shell must not leak in.
    for key in [k for k in os.environ if k.startswith("SEAL_")]:
        monkeypatch.delenv(key)


def test_development_falls_back_to_the_development_passphrase() -> None:
    assert Settings(env="development").passphrase() == DEVELOPMENT_PASSPHRASE.encode()


def test_production_refuses_an_unset_passphrase() -> None:
    with pytest.raises(ConfigurationError, match="no key passphrase"):
        Settings(env="production").check_startup()


def test_production_refuses_the_development_passphrase() -> None:
    with pytest.raises(ConfigurationError, match="development key passphrase"):
        Settings(env="production", key_passphrase=DEVELOPMENT_PASSPHRASE).check_startup()


def test_production_refuses_a_short_passphrase() -> None:
    with pytest.raises(ConfigurationError, match="at least 16"):
        Settings(env="production", key_passphrase="short").check_startup()


def test_production_accepts_a_passphrase_file(tmp_path: Path) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text("a-long-production-passphrase\n")
    assert Settings(env="production", key_passphrase_file=secret).passphrase() == b"a-long-production-passphrase"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SEAL_HOME", str(tmp_path / "inst"))
    monkeypatch.setenv("SEAL_PUBLIC_URL", "https://seal.example.gov.cn/")
    s = Settings()
    assert s.public_url == "https://seal.example.gov.cn"
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'inst' / 'seal.db'}"
    assert s.resolved_keys_dir == tmp_path / "inst" / "keys"


def test_unknown_environment_and_bad_url_are_refused() -> None:
    with pytest.raises(ValueError):
        Settings(env="staging")
    with pytest.raises(ValueError, match="SEAL_PUBLIC_URL"):
        Settings(public_url="ftp://x")


def test_production_service_refuses_to_start_with_dev_passphrase() -> None:
    from seal_service.api.app import create_app

    with pytest.raises(ConfigurationError):
        create_app(Settings(env="production", key_passphrase=DEVELOPMENT_PASSPHRASE))


def test_settings_from_a_config_file_with_environment_overriding(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "seal.toml"
    config.write_text(f'home = "{tmp_path / "from-file"}"\npublic_url = "https://file.example"\n')
    monkeypatch.setenv("SEAL_CONFIG", str(config))
    assert Settings().resolved_home == tmp_path / "from-file"
    monkeypatch.setenv("SEAL_PUBLIC_URL", "https://env.example")
    assert Settings().public_url == "https://env.example"


def test_config_file_with_unknown_keys_or_missing_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "seal.toml"
    config.write_text('colour = "red"\n')
    monkeypatch.setenv("SEAL_CONFIG", str(config))
    with pytest.raises(ValueError, match="colour"):
        Settings()
    monkeypatch.setenv("SEAL_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigurationError, match=r"missing\.toml"):
        Settings()
