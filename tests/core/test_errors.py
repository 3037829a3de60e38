"""Errors of the HTTP layer itself (bodies the JSON parser refuses, wrong methods) get the
documented `{"error": {"code", "message"}}` body and status, like the domain's errors."""

from __future__ import annotations

import httpx
import pytest

from tests.support.factories import KeyFactory

DOWNLOADS = "/api/v1/downloads"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="malformed"),
        pytest.param(b"[" * 20_000 + b"]" * 20_000, id="deeply-nested-array"),
        pytest.param(b'{"a":' * 6_000 + b"1" + b"}" * 6_000, id="deeply-nested-object"),
        pytest.param(b'{"url": "\xff\xfe"}', id="not-utf8"),
    ],
)
async def test_an_unreadable_json_body_is_a_422_validation_error(
    client: httpx.AsyncClient, make_key: KeyFactory, body: bytes
) -> None:
    response = await client.post(
        DOWNLOADS,
        content=body,
        headers={"X-API-Key": make_key(), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"] and error["details"]
    listed = await client.get(DOWNLOADS, headers={"X-API-Key": make_key("other")})
    assert listed.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        # GET and POST are separate routes at the same path.
        ("PUT", DOWNLOADS, {"GET", "POST"}),
        ("PATCH", f"{DOWNLOADS}/00000000-0000-0000-0000-000000000000", {"GET", "DELETE"}),
        ("GET", f"{DOWNLOADS}/00000000-0000-0000-0000-000000000000/retry", {"POST"}),
    ],
)
async def test_405_lists_every_allowed_method(
    client: httpx.AsyncClient, make_key: KeyFactory, method: str, path: str, allowed: set[str]
) -> None:
    response = await client.request(method, path, headers={"X-API-Key": make_key()})
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed
