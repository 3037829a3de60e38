"""Security headers, CORS from settings, request body limits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.core.config import Settings
from app.main import create_app
from app.web.docs import DOCS_CSP
from tests.support.factories import KeyFactory


@pytest.fixture
async def cors_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"cors_origins": ("https://app.example",)}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_security_headers_on_every_response(client: httpx.AsyncClient) -> None:
    for path in ("/health", "/api/v1/downloads", "/no-such-route"):
        response = await client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert "strict-transport-security" not in response.headers, "plain HTTP"
    https = await client.get("https://test/health")
    assert "max-age" in https.headers["strict-transport-security"]
    schema = await client.get("/api/openapi.json")
    assert "default-src 'none'" in schema.headers["content-security-policy"]


async def test_a_response_keeps_its_own_content_security_policy(
    client: httpx.AsyncClient,
) -> None:
    docs = await client.get("/api/docs")
    assert docs.headers.get_list("content-security-policy") == [DOCS_CSP]
    assert docs.headers["x-frame-options"] == "DENY", "the other headers still come"


async def test_cors_allows_configured_origins_only(
    cors_client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    preflight = await cors_client.options(
        "/api/v1/downloads",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "X-API-Key, Content-Type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-credentials" not in preflight.headers
    other = await cors_client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_no_cors_headers_without_configured_origins(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in response.headers


async def test_oversized_bodies_are_refused(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    body = b'{"url": "https://youtu.be/aqz-KE-bpKQ", "x": "' + b"a" * 100_000 + b'"}'
    response = await client.post(
        "/api/v1/downloads",
        content=body,
        headers={"X-API-Key": make_key(), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_wildcard_cors_never_comes_with_credentials() -> None:
    settings = Settings(_env_file=None, cors_origins="*")
    assert settings.cors_origins == ("*",)
    with pytest.raises(ValueError, match="must be"):
        Settings(_env_file=None, cors_origins="app.example")
