"""Fixtures for API tests: the app of an initialised instance (SQLite and PostgreSQL) and API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from seal_service.api.app import create_app
from seal_service.services.apikeys import Role, create_api_key


@dataclass(frozen=True)
class Keys:
    """Bearer headers of callers in different roles and authorities."""

    city: dict[str, str]
    county: dict[str, str]
    market: dict[str, str]
    auditor: dict[str, str]
    city_key_id: str


def _bearer(instance, role: Role, authority: str | None, name: str) -> tuple[dict[str, str], str]:  # type: ignore[no-untyped-def]
    issued = create_api_key(instance, name=name, role=role, authority_code=authority, at=datetime.now(UTC))
    return {"Authorization": f"Bearer {issued.secret}"}, issued.key_id


@pytest.fixture(scope="session")
def api(db_instance) -> TestClient:  # type: ignore[no-untyped-def]
    """A client of the app (real ASGI stack, no socket)."""
    return TestClient(create_app(instance=db_instance))


@pytest.fixture(scope="session")
def keys(db_instance) -> Keys:  # type: ignore[no-untyped-def]
    city, city_id = _bearer(db_instance, Role.APPROVAL_SYSTEM, "jc-bureau", "晋城市审批系统")
    county, _ = _bearer(db_instance, Role.APPROVAL_SYSTEM, "zz-bureau", "泽州县审批系统")
    market, _ = _bearer(db_instance, Role.APPROVAL_SYSTEM, "jc-market", "市场监管审批系统")
    auditor, _ = _bearer(db_instance, Role.AUDITOR, None, "审计员")
    return Keys(city=city, county=county, market=market, auditor=auditor, city_key_id=city_id)
