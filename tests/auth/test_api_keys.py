"""Keys are shown once and stored only as a hash; the bootstrap key appears on first start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from app.auth.keys import digest, well_formed
from app.auth.models import ApiKey
from app.core.config import Settings
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.main import create_app
from tests.support.constants import TEST_KEY_SECRET

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def stored_keys(database_url: str) -> list[ApiKey]:
    engine = create_sync_engine(database_url)
    try:
        with session_scope(sync_sessionmaker(engine)) as session:
            return list(session.scalars(select(ApiKey)))
    finally:
        engine.dispose()


def test_cli_prints_a_new_key_once_and_stores_only_its_hash(database_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "api-keys", "create", "--name", "laptop"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=True,
    )
    secret = result.stdout.strip()
    assert "shown only once" in result.stderr and secret not in result.stderr

    [key] = stored_keys(database_url)
    assert key.name == "laptop"
    assert well_formed(secret) and len(secret) == 40
    assert key.key_hash == digest(secret, TEST_KEY_SECRET.encode())
    assert secret not in repr(vars(key)), "the key itself is never stored"


async def test_bootstrap_admin_key_is_created_on_first_start_only(database_url: str) -> None:
    secret = "bootstrap-admin-key-for-tests-0001"
    settings = Settings(_env_file=None, database_url=database_url, bootstrap_admin_api_key=secret)
    for _start in range(2):
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                response = await client.get("/api/v1/downloads", headers={"X-API-Key": secret})
                assert response.status_code == 200

    [key] = stored_keys(database_url)
    assert key.name == "bootstrap-admin" and "admin" in key.scopes


def test_a_short_bootstrap_key_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match="at least 24 characters"):
        Settings(_env_file=None, bootstrap_admin_api_key="short")


def test_cli_lists_and_revokes_keys(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", "api-keys", *args],
            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip

    created = cli("create", "--name", "ci", "--scope", "downloads:read", "--expires-in-days", "7")
    secret = created.stdout.strip()
    [listed] = json.loads(cli("list", "--json").stdout)
    assert listed["name"] == "ci" and listed["scopes"] == ["downloads:read"]
    assert listed["expires_at"] and secret not in json.dumps(listed)

    assert cli("revoke", listed["id"]).returncode == 0
    [revoked] = json.loads(cli("list", "--json").stdout)
    assert revoked["revoked_at"] is not None
    missing = cli("revoke", "00000000-0000-0000-0000-000000000000")
    assert missing.returncode == 2 and "No API key" in missing.stderr  # a usage error
