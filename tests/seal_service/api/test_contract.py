"""Contract testing with schemathesis: generated requests against the OpenAPI find no 5xx and no response that
violates the documented schema. Bounded (a few dozen examples per operation) to keep the suite fast."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

# schemathesis 4 exposes the 5xx check under this name.
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from seal_service.api.app import create_app
from seal_service.services.apikeys import Role, create_api_key
from tests.conftest import make_instance, make_settings


@pytest.fixture(scope="module")
def contract_app(tmp_path_factory):  # type: ignore[no-untyped-def]
    instance = make_instance(make_settings(tmp_path_factory.mktemp("contract")))
    issued = create_api_key(
        instance, name="contract", role=Role.APPROVAL_SYSTEM, authority_code="jc-bureau", at=datetime.now(UTC)
    )
    return create_app(instance=instance), issued.secret


@pytest.fixture(scope="module")
def web_schema(contract_app):  # type: ignore[no-untyped-def]
    app, _ = contract_app
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_api_contract(web_schema, contract_app) -> None:  # type: ignore[no-untyped-def]
    # Every operation of the OpenAPI, each with a bounded number of generated requests. (schemathesis'
    # pytest fixture integration does not work with pytest 9, so the operations are driven directly.)
    _, secret = contract_app
    headers = {"Authorization": f"Bearer {secret}"}
    operations = [result.ok() for result in web_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])

        run()
