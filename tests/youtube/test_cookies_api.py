"""PUT, GET and DELETE /api/v1/admin/cookies: an admin's upload is checked, kept private and
summed up; its values never come back, nor reach a log."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import httpx
import pytest

from app.core.config import Settings
from tests.support.factories import KeyFactory
from tests.youtube.cookie_files import SECRET, cookie, netscape, signed_in

PATH = "/api/v1/admin/cookies"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"ytdlp_cookies_dir": tmp_path / "secrets"})


@pytest.fixture
def admin(make_key: KeyFactory) -> dict[str, str]:
    return {"X-API-Key": make_key("admin", ["admin"])}


def upload(text: bytes, headers: dict[str, str]) -> dict[str, object]:
    return {"content": text, "headers": {**headers, "Content-Type": "text/plain"}}


async def test_an_upload_is_summed_up_kept_0600_and_shown_without_values(
    client: httpx.AsyncClient, admin: dict[str, str], settings: Settings
) -> None:
    put = await client.put(PATH, **upload(signed_in(), admin))  # type: ignore[arg-type]
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["source"] == "upload" and body["count"] == 3 and body["auth_cookies"] == 2
    assert body["expires_at"] is not None and body["expired"] is False
    stored = settings.ytdlp_cookies_dir / "youtube-cookies.txt"
    assert stored.read_bytes() == signed_in()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600

    shown = await client.get(PATH, headers=admin)
    assert shown.status_code == 200
    assert shown.json()["source"] == "upload" and shown.json()["auth_cookies"] == 2
    assert SECRET not in put.text + shown.text


async def test_a_malformed_file_gets_422_naming_the_line_not_its_content(
    client: httpx.AsyncClient, admin: dict[str, str], settings: Settings
) -> None:
    text = netscape(cookie(), f".youtube.com\tTRUE\t/\tTRUE\tnever\tSID\t{SECRET}")
    answer = await client.put(PATH, **upload(text, admin))  # type: ignore[arg-type]
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_cookie_file"
    assert error["message"].startswith("Line 4 of the cookie file is not a Netscape cookie")
    assert SECRET not in answer.text
    assert not (settings.ytdlp_cookies_dir / "youtube-cookies.txt").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (netscape(), "The cookie file holds no cookie."),
        (
            netscape(cookie(domain=".example.com")),
            "The cookie file holds no cookie for youtube.com or google.com.",
        ),
    ],
)
async def test_a_file_with_no_youtube_cookie_gets_422(
    client: httpx.AsyncClient, admin: dict[str, str], text: bytes, message: str
) -> None:
    answer = await client.put(PATH, **upload(text, admin))  # type: ignore[arg-type]
    assert answer.status_code == 422
    assert answer.json()["error"] == {"code": "invalid_cookie_file", "message": message}


async def test_raw_and_json_bodies_are_accepted_and_bad_ones_are_not_echoed(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    good = await client.put(PATH, json={"cookies": signed_in().decode()}, headers=admin)
    assert good.status_code == 200 and good.json()["auth_cookies"] == 2
    binary = {**admin, "Content-Type": "application/octet-stream"}
    raw = await client.put(PATH, content=signed_in(), headers=binary)
    assert raw.status_code == 200 and raw.json()["auth_cookies"] == 2
    for body in ({"cookie": SECRET}, [SECRET], {"cookies": 7}):
        bad = await client.put(PATH, json=body, headers=admin)
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cookie_file"
        assert SECRET not in bad.text
    broken = await client.put(
        PATH,
        content=b'{"cookies": "' + SECRET.encode(),
        headers={**admin, "Content-Type": "application/json"},
    )
    assert broken.status_code == 422 and SECRET not in broken.text


async def test_files_over_64_kib_fit_and_over_1_mib_get_413(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    many = [cookie(name=f"c{n}") for n in range(2500)]  # about 150 KB
    large = netscape(cookie(), *many)
    assert 64 * 1024 < len(large) < 1024 * 1024
    accepted = await client.put(PATH, **upload(large, admin))  # type: ignore[arg-type]
    assert accepted.status_code == 200 and accepted.json()["count"] == 2501
    huge = netscape(cookie(), *(many * 8))
    refused = await client.put(PATH, **upload(huge, admin))  # type: ignore[arg-type]
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "payload_too_large"
    other = await client.post("/api/v1/downloads", content=large, headers=admin)
    assert other.status_code == 413, "the larger limit is the cookie route's alone"


async def test_delete_forgets_the_upload(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await client.put(PATH, **upload(signed_in(), admin))  # type: ignore[arg-type]
    removed = await client.delete(PATH, headers=admin)
    assert removed.status_code == 204
    shown = await client.get(PATH, headers=admin)
    assert shown.json()["source"] == "none" and shown.json()["count"] == 0
    again = await client.delete(PATH, headers=admin)
    assert again.status_code == 204


async def test_other_keys_get_403_and_cannot_read_or_replace_the_upload(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: KeyFactory
) -> None:
    await client.put(PATH, **upload(signed_in(), admin))  # type: ignore[arg-type]
    user = {"X-API-Key": make_key("user", ["downloads:read", "downloads:write"])}
    for method in ("GET", "PUT", "DELETE"):
        answer = await client.request(method, PATH, content=signed_in(), headers=user)
        assert answer.status_code == 403, method
        assert answer.json()["error"]["code"] == "insufficient_scope"
        assert SECRET not in answer.text
    assert (await client.get(PATH, headers=admin)).json()["source"] == "upload"


async def test_no_log_record_holds_a_cookie_value(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    make_key: KeyFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, ours, uvicorn's and the libraries'
    user = {"X-API-Key": make_key("user", ["downloads:read"])}
    await client.put(PATH, **upload(signed_in(), admin))  # type: ignore[arg-type]
    await client.put(PATH, **upload(signed_in(), user))  # type: ignore[arg-type]
    await client.put(PATH, **upload(netscape(f"bad\t{SECRET}"), admin))  # type: ignore[arg-type]
    await client.put(PATH, json={"nope": SECRET}, headers=admin)
    await client.get(PATH, headers=admin)
    await client.delete(PATH, headers=admin)
    assert caplog.records, "the requests were logged"
    for record in caplog.records:
        assert SECRET not in record.getMessage(), record.name
        assert SECRET not in str(record.__dict__), record.name
