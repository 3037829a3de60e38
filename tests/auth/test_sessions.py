"""Browser sessions as the web UI uses them: an API key exchanged once for an HttpOnly,
SameSite=Strict cookie; unsafe requests by cookie must repeat the session's CSRF token; the
key is never stored; sign-out and revocation end the session."""

from __future__ import annotations

import datetime as dt
import hashlib

import httpx
import redis
from sqlalchemy import update

from app.auth.models import ApiKey
from app.core.config import Settings
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from tests.support.factories import create_key

URL = "https://www.youtube.com/watch?v=aqz-KE-bpKQ"
READ, WRITE = "downloads:read", "downloads:write"


def _set_cookie(response: httpx.Response) -> str:
    return response.headers["set-cookie"]


async def _sign_in(client: httpx.AsyncClient, secret: str) -> dict[str, object]:
    response = await client.post("/api/v1/session", json={"api_key": secret})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_signing_in_sets_an_httponly_strict_cookie_and_keeps_no_key(
    client: httpx.AsyncClient, database_url: str, settings: Settings
) -> None:
    issued = create_key(database_url, "laptop", scopes=[READ, WRITE])
    response = await client.post("/api/v1/session", json={"api_key": issued.secret})

    assert response.status_code == 200, response.text
    cookie = _set_cookie(response)
    assert cookie.startswith("yds_session=")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path=/", "samesite=strict"} <= attributes
    assert "secure" not in attributes  # plain http here; https requests get Secure
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["name"] == "laptop" and body["scopes"] == [READ, WRITE]
    assert len(body["csrf_token"]) >= 32
    assert issued.secret not in response.text

    token = cookie.split(";")[0].split("=", 1)[1]
    with redis.Redis.from_url(settings.redis_url) as store:
        names = store.keys("yds:ui-session:*")
        values = b"".join(store.get(name) or b"" for name in names)
        record = store.get(f"yds:ui-session:{hashlib.sha256(token.encode()).hexdigest()}")
    assert record is not None and str(issued.api_key.id).encode() in record
    assert not any(token.encode() in name for name in names)
    assert token.encode() not in values and issued.secret.encode() not in values


async def test_cookie_requests_need_the_csrf_token_only_to_change_something(
    client: httpx.AsyncClient, database_url: str
) -> None:
    issued = create_key(database_url, "ui", scopes=[READ, WRITE])
    session = await _sign_in(client, issued.secret)

    listed = await client.get("/api/v1/downloads")
    assert listed.status_code == 200, listed.text

    for headers in ({}, {"X-CSRF-Token": "guessed"}):
        refused = await client.post("/api/v1/downloads", json={"url": URL}, headers=headers)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "csrf_failed"
    assert (await client.get("/api/v1/downloads")).json()["items"] == [], "nothing written"

    created = await client.post(
        "/api/v1/downloads", json={"url": URL}, headers={"X-CSRF-Token": str(session["csrf_token"])}
    )
    assert created.status_code == 202, created.text

    # A request with the key header is judged by the key alone: no CSRF token needed.
    by_header = await client.post(
        "/api/v1/downloads", json={"url": URL}, headers={"X-API-Key": issued.secret}
    )
    assert by_header.status_code == 202, by_header.text

    current = await client.get("/api/v1/session")
    assert current.json()["csrf_token"] == session["csrf_token"]
    assert current.headers["cache-control"] == "no-store"
    client.cookies.clear()
    header_only = await client.get("/api/v1/session", headers={"X-API-Key": issued.secret})
    assert header_only.status_code == 200 and header_only.json()["csrf_token"] is None


async def test_sign_out_ends_the_session_and_clears_the_cookie(
    client: httpx.AsyncClient, database_url: str
) -> None:
    issued = create_key(database_url, "ui", scopes=[READ])
    await _sign_in(client, issued.secret)
    old_cookie = client.cookies.get("yds_session")
    assert old_cookie

    out = await client.delete("/api/v1/session")
    assert out.status_code == 204
    assert 'yds_session=""' in _set_cookie(out) and "max-age=0" in _set_cookie(out).lower()
    assert client.cookies.get("yds_session") is None

    # The old cookie, replayed, opens nothing.
    client.cookies.set("yds_session", old_cookie)
    replayed = await client.get("/api/v1/downloads")
    assert replayed.status_code == 401
    assert replayed.json()["error"]["code"] == "session_expired"
    again = await client.delete("/api/v1/session")
    assert again.status_code == 204


async def test_a_wrong_key_opens_no_session_and_a_revoked_one_ends_its_sessions(
    client: httpx.AsyncClient, database_url: str
) -> None:
    wrong = await client.post("/api/v1/session", json={"api_key": "yds_" + "A" * 36})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert "set-cookie" not in wrong.headers
    empty = await client.post("/api/v1/session", json={"api_key": ""})
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "validation_error"

    issued = create_key(database_url, "soon revoked", scopes=[READ])
    await _sign_in(client, issued.secret)
    assert (await client.get("/api/v1/downloads")).status_code == 200

    engine = create_sync_engine(database_url)
    try:
        with session_scope(sync_sessionmaker(engine)) as db:
            db.execute(
                update(ApiKey)
                .where(ApiKey.id == issued.api_key.id)
                .values(revoked_at=dt.datetime.now(dt.UTC))
            )
    finally:
        engine.dispose()
    refused = await client.get("/api/v1/downloads")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "api_key_revoked"


async def test_a_session_cookie_with_a_read_only_key_cannot_write(
    client: httpx.AsyncClient, database_url: str
) -> None:
    issued = create_key(database_url, "reader", scopes=[READ])
    session = await _sign_in(client, issued.secret)
    refused = await client.post(
        "/api/v1/downloads", json={"url": URL}, headers={"X-CSRF-Token": str(session["csrf_token"])}
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient_scope"
