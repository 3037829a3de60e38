"""schemathesis generates requests from the OpenAPI spec and sends them to the app with a
valid admin key: no response may be a 5xx, use an undocumented status, or break its schema,
and no request the schema allows may be refused as malformed. Examples are bounded so
`make test` stays fast."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.api.state import state_of
from app.core.config import Settings
from app.main import create_app
from tests.support.databases import DatabaseFactory
from tests.support.factories import create_key


@schemathesis.check
def schema_valid_requests_pass_validation(
    _ctx: CheckContext, response: Response, case: Case[Any]
) -> bool | None:
    """The request schemas are exactly as strict as the validators: what the schema allows
    is never a `validation_error`. (schemathesis' own positive-data check would also refuse
    the 400 `unsupported_url` and the 422 `no_valid_urls` that generated URLs get: whether
    a URL is one this service downloads from depends on ALLOWED_DOMAINS and DNS, not on the
    request's shape.)"""
    if response.status_code == 422:
        error = response.json().get("error", {})
        assert error.get("code") != "validation_error", (
            f"a schema-valid request was refused: {error.get('message')}"
        )
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    schema_valid_requests_pass_validation,
]
ALL_SCOPES = ["admin", "downloads:read", "downloads:write"]


@pytest.fixture(scope="module")
def contract_app(
    db_factory: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FastAPI]:
    base = tmp_path_factory.mktemp("contract")
    yield create_app(
        Settings(
            _env_file=None,
            database_url=db_factory.sqlite(),
            download_base_path=Path(base / "downloads"),
            work_dir=Path(base / "work"),
            info_cache_seconds=0,
        )
    )


@pytest.fixture(scope="module")
def api_schema(contract_app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/api/openapi.json", contract_app)


@pytest.fixture(scope="module")
def admin_key(contract_app: FastAPI, api_schema: schemathesis.BaseSchema) -> str:
    database_url = state_of(contract_app).settings.database_url  # set by the lifespan
    return create_key(database_url, "contract", scopes=ALL_SCOPES).secret


def test_the_api_honours_its_own_schema(
    api_schema: schemathesis.BaseSchema, admin_key: str
) -> None:
    # One bounded hypothesis run per operation: schemathesis' lazy pytest integration
    # relies on a pytest internal that pytest 9 removed.
    operations = [
        operation
        for result in api_schema.get_all_operations()
        # /health/detailed answers its documented 503 here (no worker runs in this test);
        # tests/health covers it.
        if isinstance(result, Ok) and (operation := result.ok()).path != "/health/detailed"
    ]
    assert len(operations) >= 12
    for operation in operations:
        examples = 15 if operation.path.startswith("/api/") else 2

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            # The same examples on every run: CI must not pass or fail by chance.
            derandomize=True,
        )
        def check(case: Case[Any]) -> None:
            case.call_and_validate(headers={"X-API-Key": admin_key}, checks=CHECKS)

        check()


def test_every_documented_4xx_is_the_error_body(contract_app: FastAPI) -> None:
    """Generated clients get typed errors: every 4xx names ErrorResponse, never FastAPI's
    `{"detail": [...]}` (HTTPValidationError), which this API does not send."""
    spec = contract_app.openapi()
    assert "HTTPValidationError" not in str(spec)
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    schema = str(response["content"]["application/json"]["schema"])
                    assert "#/components/schemas/ErrorResponse" in schema, (method, path, status)
            if "requestBody" in operation:
                assert "413" in operation["responses"], (method, path)
            if any(p["in"] != "header" for p in operation.get("parameters", [])) or (
                "requestBody" in operation
            ):
                assert "validation_error" in operation["responses"]["422"]["description"]
