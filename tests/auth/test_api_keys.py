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

from app.auth.keys import digest, generate, well_formed
from app.auth.models import ApiKey
from app.core.config import Settings
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.main import create_app
from tests.support.constants import TEST_KEY_SECRET
from tests.support.factories import one_character_changed
from tests.support.stack import ManagedProcess, api_command, start_api

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


def api_env(database_url: str, base: Path, bootstrap_key: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DOWNLOAD_BASE_PATH": str(base / "downloads"),
        "WORK_DIR": str(base / "work"),
        "BOOTSTRAP_ADMIN_API_KEY": bootstrap_key,
    }


@pytest.mark.parametrize(
    "bootstrap_key",
    [
        pytest.param("my-own-bootstrap-admin-key-0001", id="custom"),
        pytest.param(generate(), id="generated"),
    ],
)
def test_every_bootstrap_key_the_api_accepts_at_start_opens_it(
    database_url: str, tmp_path: Path, bootstrap_key: str
) -> None:
    api, base_url = start_api(api_env(database_url, tmp_path, bootstrap_key), tmp_path)
    try:
        response = httpx.get(
            f"{base_url}/api/v1/admin/api-keys", headers={"X-API-Key": bootstrap_key}, timeout=10
        )
        assert response.status_code == 200, response.text
        assert [key["name"] for key in response.json()] == ["bootstrap-admin"]
    finally:
        api.stop()


@pytest.mark.parametrize(
    "bootstrap_key",
    [
        pytest.param("yds_my-own-bootstrap-admin-key-01", id="custom-with-prefix"),
        pytest.param(one_character_changed(generate(), -1), id="generated-with-a-typo"),
    ],
)
def test_a_yds_looking_bootstrap_key_that_no_request_could_use_stops_the_start(
    database_url: str, tmp_path: Path, bootstrap_key: str
) -> None:
    api = ManagedProcess("api", api_command(), api_env(database_url, tmp_path, bootstrap_key),
                         tmp_path)  # fmt: skip
    try:
        assert api.proc.wait(timeout=60) != 0
    finally:
        api.stop()
    assert "BOOTSTRAP_ADMIN_API_KEY starts with 'yds_' but is not a key" in api.log()
    assert "created the bootstrap admin API key" not in api.log()
    assert stored_keys(database_url) == []


@pytest.mark.parametrize(
    "bootstrap_key", ["bootstrap admin key with spaces", "bootstrap-admin-key-ünïcödé-0001"]
)
def test_a_bootstrap_key_that_cannot_travel_in_a_header_is_refused(bootstrap_key: str) -> None:
    with pytest.raises(
        ValidationError, match="BOOTSTRAP_ADMIN_API_KEY may hold only printable ASCII"
    ):
        Settings(_env_file=None, bootstrap_admin_api_key=bootstrap_key)


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
