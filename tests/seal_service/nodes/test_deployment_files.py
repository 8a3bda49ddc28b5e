"""compose.yaml and docs/deployment.md cannot rot unnoticed: Docker cannot run here, so the compose file is parsed
and compared with the settings, the Dockerfile and ``make run``, and every setting the deployment guide names is
a real one."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from seal_service.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
#: Environment variables that are not settings fields but are read by the service or the image.
NOT_SETTINGS = {"SEAL_CONFIG", "SEAL_WORKERS", "SEAL_VERIFY_THREADS", "SEAL_CJK_FONT", "SEAL_TEST_KEY_BACKEND"}


def _setting_names(text: str) -> set[str]:
    return set(re.findall(r"\bSEAL_[A-Z0-9_]+\b", text)) - NOT_SETTINGS


def _known() -> set[str]:
    return {f"SEAL_{name.upper()}" for name in Settings.model_fields}


def test_compose_parses_and_runs_the_service_as_make_run_does() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"seal", "postgres"}
    seal, postgres = services["seal"], services["postgres"]
    assert seal["build"] == "." and (ROOT / "Dockerfile").is_file()
    assert seal["depends_on"]["postgres"]["condition"] == "service_healthy"
    environment = seal["environment"]
    assert set(environment) - NOT_SETTINGS <= _known(), set(environment) - NOT_SETTINGS - _known()
    # The service's database is the compose PostgreSQL, with its user, password and database.
    pg = postgres["environment"]
    expected = f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/{pg['POSTGRES_DB']}"
    assert environment["SEAL_DATABASE_URL"] == expected
    # As `make run`: init, then serve on port 8000 with the public URL of that port, development settings.
    command = " ".join(seal["command"])
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "$(BIN)/seal-service init" in makefile and "$(BIN)/seal-service serve" in makefile
    assert re.search(r"seal-service init && seal-service serve --host 0\.0\.0\.0 --port 8000\b", command)
    assert "$${SEAL_WORKERS" in command  # expanded by the container's shell, not by compose
    assert "PORT ?= 8000" in makefile and environment["SEAL_PUBLIC_URL"] == "http://127.0.0.1:8000"
    assert seal["ports"] == ["127.0.0.1:8000:8000"]
    assert environment["SEAL_ENV"] == "development"
    # Its health check asks for readiness; the instance survives restarts in a volume at the image's SEAL_HOME.
    assert "/readyz" in " ".join(seal["healthcheck"]["test"])
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert f"SEAL_HOME={environment['SEAL_HOME']}" in dockerfile
    assert f"seal-instance:{environment['SEAL_HOME']}" in seal["volumes"]


def test_the_deployment_guide_names_only_real_settings_and_every_operations_one() -> None:
    guide = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    named = _setting_names(guide)
    assert named <= _known(), named - _known()
    assert {"SEAL_DATABASE_URL", "SEAL_PUBLIC_URL", "SEAL_KEY_BACKEND", "SEAL_PKCS11_MODULE", "SEAL_METRICS"} <= named
    assert {"SEAL_METRICS_TOKEN", "SEAL_KEY_PASSPHRASE_FILE", "SEAL_PKCS11_PIN_FILE", "SEAL_KEYS_DIR"} <= named
    for endpoint in ("/healthz", "/readyz", "/metrics"):
        assert endpoint in guide
