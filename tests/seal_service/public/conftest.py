"""Fixtures of the public face: an app with its own rate limiters, and licences sealed for it (SQLite and
PostgreSQL through ``db_instance``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient

from seal_service.api.app import create_app
from seal_service.public.ratelimit import RateLimiter
from seal_service.services.sealing import LicenceRequest, SealedLicence, seal_licence
from seal_service.signing.sealer import PadesLevel

ORG_CODE = "11430000006122244L"
ORG_CODE_2 = "11100000000013338W"
PERSON_ID = "11010519491231002X"


@dataclass(frozen=True)
class Sealed:
    """Licences of this test module: three organisations and one natural person, names unique to the run."""

    token: str
    prefix: str
    orgs: tuple[SealedLicence, ...]
    person: SealedLicence
    person_name: str


def unlimited(app) -> None:  # type: ignore[no-untyped-def]
    """Limits no test reaches, so tests sharing one client address do not throttle each other (the counters are
    in the test database, shared by every app over it, as by the nodes of a deployment)."""
    engine = app.state.instance.engine
    app.state.public_limiters = {
        kind: RateLimiter(engine, bucket=kind, limit=100_000, window_seconds=60)
        for kind in ("search", "export", "complaint")
    }


def limited(app, kind: str, *, limit: int, window_seconds: int = 60) -> RateLimiter:  # type: ignore[no-untyped-def]
    """A small limit for ``kind`` under a bucket of its own, so counts of other tests in the shared database do
    not reach it."""
    limiter = RateLimiter(
        app.state.instance.engine,
        bucket=f"{kind[:6]}-{secrets.token_hex(4)}",
        limit=limit,
        window_seconds=window_seconds,
    )
    app.state.public_limiters[kind] = limiter
    return limiter


@pytest.fixture(scope="module")
def public_api(db_instance) -> TestClient:  # type: ignore[no-untyped-def]
    """A client of the app with generous limits."""
    app = create_app(instance=db_instance)
    unlimited(app)
    return TestClient(app)


def _seal(instance, pdf: bytes, **fields) -> SealedLicence:  # type: ignore[no-untyped-def]
    request = LicenceRequest(level=PadesLevel.B_B, **fields)
    return seal_licence(instance, pdf, request, actor="test", at=datetime.now(UTC))


@pytest.fixture(scope="session")
def sealed(db_instance, licence_pdf) -> Sealed:  # type: ignore[no-untyped-def]
    """Sealed once per database backend and shared by the modules here (tests change only what they own)."""
    token = secrets.token_hex(3).upper()
    prefix = f"晋城公示{token}"
    orgs = (
        _seal(
            db_instance,
            licence_pdf,
            item_code="JC-001",
            holder_name=f"{prefix}餐饮有限公司",
            holder_code=ORG_CODE,
            holder_code_type="001",
            seal_id="jc-bureau-approval",
            issue_date=date(2026, 3, 1),
            valid_until=date(2031, 2, 28),
        ),
        _seal(
            db_instance,
            licence_pdf,
            item_code="JC-004",
            holder_name=f"{prefix}药房有限公司",
            holder_code=ORG_CODE_2,
            holder_code_type="001",
            seal_id="jc-market-approval",
            issue_date=date(2026, 5, 10),
        ),
        _seal(
            db_instance,
            licence_pdf,
            item_code="JC-001",
            holder_name=f"{prefix}建筑有限公司",
            holder_code=ORG_CODE,
            holder_code_type="001",
            seal_id="jc-bureau-approval",
            issue_date=date(2026, 7, 1),
        ),
    )
    person_name = "张三丰"
    person = _seal(
        db_instance,
        licence_pdf,
        item_code="JC-001",
        holder_name=person_name,
        holder_code=PERSON_ID,
        holder_code_type="111",
        seal_id="jc-bureau-approval",
    )
    return Sealed(token=token, prefix=prefix, orgs=orgs, person=person, person_name=person_name)
