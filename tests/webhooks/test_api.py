"""The webhooks API in-process, on SQLite and PostgreSQL: a key's default URL and secret,
admin-set webhook URLs, and a job's delivery attempts (its owner only)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.auth import repository as key_repository
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.webhooks import repository
from app.webhooks.signing import webhook_secret
from tests.support.constants import TEST_KEY_SECRET
from tests.support.factories import create_key
from tests.webhooks.factories import ended_job

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HOOK = "https://hooks.example.com/yds"
ADMIN_SCOPES = ["admin", "downloads:read", "downloads:write"]


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_sync_engine(database_url)
    yield sync_sessionmaker(engine)
    engine.dispose()


def stored_url(sessions: sessionmaker[Session], key_id: uuid.UUID) -> str | None:
    with session_scope(sessions) as session:
        api_key = key_repository.by_id(session, key_id)
        assert api_key is not None
        return api_key.webhook_url


async def test_a_key_reads_its_own_secret_and_default_url(
    client: httpx.AsyncClient, database_url: str
) -> None:
    first, second = create_key(database_url, "one"), create_key(database_url, "two")
    response = await client.get("/api/v1/webhooks", headers={"X-API-Key": first.secret})
    assert response.status_code == 200
    assert response.json() == {
        "default_url": None,
        "secret": webhook_secret(TEST_KEY_SECRET.encode(), first.api_key.id),
        "signature_header": "X-YDS-Signature",
        "algorithm": "HMAC-SHA256",
    }
    other = await client.get("/api/v1/webhooks", headers={"X-API-Key": second.secret})
    assert other.json()["secret"] != response.json()["secret"]
    assert other.json()["secret"].startswith("whsec_")
    assert (await client.get("/api/v1/webhooks")).status_code == 401


async def test_put_sets_and_clears_the_default_url(
    client: httpx.AsyncClient, database_url: str, sessions: sessionmaker[Session]
) -> None:
    issued = create_key(database_url)
    headers = {"X-API-Key": issued.secret}
    response = await client.put("/api/v1/webhooks", json={"default_url": HOOK}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["default_url"] == HOOK
    assert (await client.get("/api/v1/webhooks", headers=headers)).json()["default_url"] == HOOK
    assert stored_url(sessions, issued.api_key.id) == HOOK

    cleared = await client.put("/api/v1/webhooks", json={"default_url": None}, headers=headers)
    assert cleared.status_code == 200 and cleared.json()["default_url"] is None
    assert stored_url(sessions, issued.api_key.id) is None


@pytest.mark.parametrize(
    "body",
    [
        {"default_url": "ftp://hooks.example.com/yds"},
        {"default_url": "hooks.example.com/yds"},
        {"default_url": "https://hooks.example.com/" + "a" * 2048},
        {"default_url": "https://hooks.example.com/a b"},
        {"default_url": HOOK, "secret": "mine"},
        {},
    ],
)
async def test_put_refuses_what_is_not_an_absolute_http_url(
    client: httpx.AsyncClient, database_url: str, body: dict[str, str]
) -> None:
    key = create_key(database_url).secret
    response = await client.put("/api/v1/webhooks", json=body, headers={"X-API-Key": key})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://localhost./hook",
        "http://LocalHost.:8080/hook",
        "http://169.254.169.254/",
        "http://[::1]/",
    ],
)
async def test_put_refuses_private_addresses_unless_allowed(
    client: httpx.AsyncClient, database_url: str, sessions: sessionmaker[Session], url: str
) -> None:
    issued = create_key(database_url)
    response = await client.put(
        "/api/v1/webhooks", json={"default_url": url}, headers={"X-API-Key": issued.secret}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "forbidden_address"
    assert stored_url(sessions, issued.api_key.id) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1\\@hooks.example.com/yds",
        "https://me:secret@hooks.example.com/yds",
        "https://hooks.example\t.com/yds",
    ],
)
async def test_put_refuses_urls_parsers_read_differently(
    client: httpx.AsyncClient, database_url: str, sessions: sessionmaker[Session], url: str
) -> None:
    issued = create_key(database_url)
    response = await client.put(
        "/api/v1/webhooks", json={"default_url": url}, headers={"X-API-Key": issued.secret}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "unsupported_url"
    assert stored_url(sessions, issued.api_key.id) is None


async def test_setting_the_default_needs_the_write_scope(
    client: httpx.AsyncClient, database_url: str
) -> None:
    reader = create_key(database_url, scopes=["downloads:read"]).secret
    headers = {"X-API-Key": reader}
    assert (await client.get("/api/v1/webhooks", headers=headers)).status_code == 200
    response = await client.put("/api/v1/webhooks", json={"default_url": HOOK}, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"


async def test_admins_set_a_keys_webhook_when_creating_and_updating_it(
    client: httpx.AsyncClient, database_url: str
) -> None:
    admin = {"X-API-Key": create_key(database_url, "admin", scopes=ADMIN_SCOPES).secret}
    created = await client.post(
        "/api/v1/admin/api-keys", json={"name": "ci", "webhook_url": HOOK}, headers=admin
    )
    assert created.status_code == 201, created.text
    key_id, key = created.json()["id"], created.json()["key"]
    assert created.json()["webhook_url"] == HOOK
    own = await client.get("/api/v1/webhooks", headers={"X-API-Key": key})
    assert own.json()["default_url"] == HOOK

    other = "https://other.example.com/hook"
    patched = await client.patch(
        f"/api/v1/admin/api-keys/{key_id}", json={"webhook_url": other}, headers=admin
    )
    assert patched.status_code == 200 and patched.json()["webhook_url"] == other
    listed = (await client.get("/api/v1/admin/api-keys", headers=admin)).json()
    assert {item["id"]: item["webhook_url"] for item in listed}[key_id] == other

    cleared = await client.patch(
        f"/api/v1/admin/api-keys/{key_id}", json={"webhook_url": None}, headers=admin
    )
    assert cleared.status_code == 200 and cleared.json()["webhook_url"] is None


async def test_admin_webhook_urls_follow_the_same_rules(
    client: httpx.AsyncClient, database_url: str
) -> None:
    admin = {"X-API-Key": create_key(database_url, "admin", scopes=ADMIN_SCOPES).secret}
    private = await client.post(
        "/api/v1/admin/api-keys",
        json={"name": "x", "webhook_url": "http://10.0.0.5/hook"},
        headers=admin,
    )
    assert private.status_code == 400 and private.json()["error"]["code"] == "forbidden_address"
    bad = await client.post(
        "/api/v1/admin/api-keys", json={"name": "x", "webhook_url": "mailto:a@b"}, headers=admin
    )
    assert bad.status_code == 422
    missing = await client.patch(
        f"/api/v1/admin/api-keys/{uuid.uuid4()}", json={"webhook_url": HOOK}, headers=admin
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "api_key_not_found"
    user = {"X-API-Key": create_key(database_url).secret}
    denied = await client.patch(
        f"/api/v1/admin/api-keys/{uuid.uuid4()}", json={"webhook_url": HOOK}, headers=user
    )
    assert denied.status_code == 403


async def test_only_the_jobs_owner_sees_its_delivery_attempts(
    client: httpx.AsyncClient, database_url: str, sessions: sessionmaker[Session]
) -> None:
    owner, stranger = create_key(database_url, "owner"), create_key(database_url, "stranger")
    job_id = ended_job(sessions, api_key_id=owner.api_key.id, webhook_url=HOOK)
    with session_scope(sessions) as session:
        for attempt, status, error in [(1, 502, "HTTP 502"), (2, 200, None)]:
            repository.record_attempt(
                session,
                job_id=job_id,
                event="job.completed",
                attempt=attempt,
                status_code=status,
                error=error,
                delivered=status == 200,
            )

    path = f"/api/v1/downloads/{job_id}/webhooks"
    response = await client.get(path, headers={"X-API-Key": owner.secret})
    assert response.status_code == 200
    rows = response.json()
    assert [(r["attempt"], r["status_code"], r["delivered"], r["error"]) for r in rows] == [
        (1, 502, False, "HTTP 502"),
        (2, 200, True, None),
    ]
    assert all(r["event"] == "job.completed" and r["created_at"] for r in rows)

    hidden = await client.get(path, headers={"X-API-Key": stranger.secret})
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "job_not_found"
    unknown = await client.get(
        f"/api/v1/downloads/{uuid.uuid4()}/webhooks", headers={"X-API-Key": owner.secret}
    )
    assert unknown.status_code == 404


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "api-keys", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_cli_creates_a_key_with_a_webhook_url(
    database_url: str, sessions: sessionmaker[Session]
) -> None:
    created = cli(database_url, "create", "--name", "hooked", "--webhook-url", HOOK)
    assert created.returncode == 0, created.stderr
    with session_scope(sessions) as session:
        [api_key] = key_repository.list_all(session)
    assert api_key.name == "hooked" and api_key.webhook_url == HOOK

    for url, reason in [("ftp://x.example.com/", "http(s)"), ("http://127.0.0.1/", "loopback")]:
        refused = cli(database_url, "create", "--name", "bad", "--webhook-url", url)
        assert refused.returncode == 2 and reason in refused.stderr, refused.stderr
    with session_scope(sessions) as session:
        assert len(key_repository.list_all(session)) == 1
