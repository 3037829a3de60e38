"""Every route of the OpenAPI spec, with every kind of wrong key: no key, a bad key, a
revoked key, an expired key, the wrong scope, and another key's job."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from app.auth.models import ApiKey
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.jobs.models import FileKind, JobFile
from tests.support.factories import create_key

PUBLIC = {"/health", "/health/detailed", "/metrics", "/api/docs", "/api/openapi.json"}
# Podcast apps fetch these with no key: the feed token, or the link's signature, is the
# credential (tests/subscriptions).
PUBLIC |= {"/feeds/{token}.xml", "/feeds/files/{file_id}"}
# Routes any valid key may call, whatever its scopes.
ANY_KEY = {"/api/v1/version", "/api/v1/session"}
# Signing in takes the key in its body, and signing out needs none (tests/auth/test_sessions.py).
SESSION_CHANGES = {("post", "/api/v1/session"), ("delete", "/api/v1/session")}
URL = "https://www.youtube.com/watch?v=aqz-KE-bpKQ"
READ, WRITE, ADMIN = "downloads:read", "downloads:write", "admin"


def routes(app: FastAPI) -> list[tuple[str, str, str | None]]:
    """(method, path template, scope needed or None for any key) for every documented
    operation."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        if path in PUBLIC:
            continue
        for method in operations:
            if (method, path) in SESSION_CHANGES:
                continue
            scope: str | None
            if path in ANY_KEY:
                scope = None
            elif path.startswith("/api/v1/admin"):
                scope = ADMIN
            elif method in ("post", "put", "patch", "delete"):
                scope = WRITE
            else:
                scope = READ
            found.append((method.upper(), path, scope))
    return found


def set_key(database_url: str, key_id: uuid.UUID, **values: Any) -> None:
    engine = create_sync_engine(database_url)
    try:
        with session_scope(sync_sessionmaker(engine)) as session:
            session.execute(update(ApiKey).where(ApiKey.id == key_id).values(**values))
    finally:
        engine.dispose()


def add_file(database_url: str, job_id: str) -> uuid.UUID:
    engine = create_sync_engine(database_url)
    try:
        with session_scope(sync_sessionmaker(engine)) as session:
            stored = JobFile(
                job_id=uuid.UUID(job_id),
                kind=FileKind.SUBTITLE,
                language="en",
                format="vtt",
                size=1,
                sha256="0" * 64,
                storage_key=f"{job_id}/a.en.vtt",
            )
            session.add(stored)
            session.flush()
            return stored.id
    finally:
        engine.dispose()


def fill(path: str, job_id: str, file_id: uuid.UUID, key_id: uuid.UUID) -> str:
    return (
        path.replace("{job_id}", job_id)
        .replace("{file_id}", str(file_id))
        .replace("{key_id}", str(key_id))
    )


def body_for(method: str, path: str) -> dict[str, Any] | None:
    if method != "POST":
        return None
    return {"name": "x"} if path.startswith("/api/v1/admin") else {"url": URL}


async def test_every_route_refuses_every_wrong_key(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    owner = create_key(database_url, "owner", scopes=[READ, WRITE, ADMIN])
    job = await client.post(
        "/api/v1/downloads", json={"url": URL}, headers={"X-API-Key": owner.secret}
    )
    job_id = job.json()["job_id"]
    file_id = add_file(database_url, job_id)
    revoked = create_key(database_url, "revoked", scopes=[READ, WRITE, ADMIN])
    set_key(database_url, revoked.api_key.id, revoked_at=dt.datetime.now(dt.UTC))
    expired = create_key(database_url, "expired", scopes=[READ, WRITE, ADMIN])
    set_key(
        database_url,
        expired.api_key.id,
        expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1),
    )
    scoped = {
        scope: create_key(database_url, scope, scopes=[scope]).secret
        for scope in (READ, WRITE, ADMIN)
    }
    stranger = create_key(database_url, "stranger", scopes=[READ, WRITE]).secret

    checked = routes(app)
    assert len(checked) >= 12, checked
    for method, template, needed in checked:
        path = fill(template, job_id, file_id, uuid.uuid4())
        params = {"url": URL} if template in ("/api/v1/info", "/api/v1/formats") else None

        body = body_for(method, template)

        async def call(
            key: str | None, request: tuple[Any, ...] = (method, path, body, params)
        ) -> httpx.Response:
            verb, target, payload, query = request
            headers = {"X-API-Key": key} if key is not None else {}
            return await client.request(verb, target, json=payload, params=query, headers=headers)

        cases = [
            (None, 401, "missing_api_key"),
            ("yds_" + "A" * 36, 401, "invalid_api_key"),
            ("not-even-a-key", 401, "invalid_api_key"),
            (revoked.secret, 401, "api_key_revoked"),
            (expired.secret, 401, "api_key_expired"),
        ]
        cases += [
            (secret, 403, "insufficient_scope")
            for scope, secret in scoped.items()
            if needed is not None and scope != needed
        ]
        for key, status, code in cases:
            response = await call(key)
            assert (response.status_code, response.json()["error"]["code"]) == (status, code), (
                method, template, key, response.text,
            )  # fmt: skip
        if needed is None:
            for secret in scoped.values():
                response = await call(secret)
                assert response.status_code == 200, (method, template, response.text)
        if "{job_id}" in template:
            response = await call(stranger)
            assert response.status_code == 404, (method, template)
            assert response.json()["error"]["code"] == "job_not_found"


async def test_admins_manage_keys_and_never_see_secrets(
    client: httpx.AsyncClient, database_url: str
) -> None:
    admin = create_key(database_url, "admin", scopes=[ADMIN]).secret
    headers = {"X-API-Key": admin}
    created = await client.post(
        "/api/v1/admin/api-keys",
        json={"name": "ci", "scopes": [READ], "expires_at": "2099-01-01T00:00:00Z",
              "rate_limit_per_minute": 30, "max_active_jobs": 2},
        headers=headers,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["key"]
    assert secret.startswith("yds_") and body["key_prefix"] == secret[:12]
    assert body["scopes"] == [READ] and body["rate_limit_per_minute"] == 30

    used = await client.get("/api/v1/downloads", headers={"X-API-Key": secret})
    assert used.status_code == 200
    listed = await client.get("/api/v1/admin/api-keys", headers=headers)
    assert secret not in listed.text and "key_hash" not in listed.text
    row = next(k for k in listed.json() if k["id"] == body["id"])
    assert row["usage_count"] >= 1 and row["last_used_at"] is not None

    revoked = await client.delete(f"/api/v1/admin/api-keys/{body['id']}", headers=headers)
    assert revoked.status_code == 204
    after = await client.get("/api/v1/downloads", headers={"X-API-Key": secret})
    assert after.status_code == 401 and after.json()["error"]["code"] == "api_key_revoked"
    missing = await client.delete(f"/api/v1/admin/api-keys/{uuid.uuid4()}", headers=headers)
    assert missing.status_code == 404

    past = await client.post(
        "/api/v1/admin/api-keys",
        json={"name": "x", "expires_at": "2001-01-01T00:00:00Z"},
        headers=headers,
    )
    assert past.status_code == 422 and past.json()["error"]["code"] == "expiry_in_past"


@pytest.mark.parametrize("field", ["max_active_jobs", "max_jobs_per_day"])
async def test_quotas_give_429_quota_exceeded(
    client: httpx.AsyncClient, database_url: str, field: str
) -> None:
    key = create_key(database_url, "quota", **{"limits": _limits(field, 2)}).secret
    headers = {"X-API-Key": key}
    for _ in range(2):
        response = await client.post("/api/v1/downloads", json={"url": URL}, headers=headers)
        assert response.status_code == 202
    if field == "max_jobs_per_day":
        # Finished jobs free the concurrency slot but still count for the day.
        jobs = (await client.get("/api/v1/downloads", headers=headers)).json()["items"]
        for job in jobs:
            await client.delete(f"/api/v1/downloads/{job['job_id']}", headers=headers)
    refused = await client.post("/api/v1/downloads", json={"url": URL}, headers=headers)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "quota_exceeded"


def _limits(field: str, value: int) -> Any:
    from app.auth.service import KeyLimits

    return KeyLimits(**{field: value})
