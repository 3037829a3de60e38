"""What makes a Netscape cookie file acceptable, and the status the service reports of one."""

from __future__ import annotations

import datetime as dt
import stat
import time
from pathlib import Path

import pytest

from app.core.config import Settings
from app.youtube.cookies import (
    CookieFileError,
    cookie_status,
    parse_cookie_file,
    save_cookies,
    uploaded_cookies,
)
from tests.youtube.cookie_files import IN_A_YEAR, SECRET, cookie, netscape, signed_in


def local_settings(tmp_path: Path, ytdlp_cookies_file: Path | None = None) -> Settings:
    return Settings(
        _env_file=None,
        ytdlp_cookies_dir=tmp_path / "secrets",
        ytdlp_cookies_file=ytdlp_cookies_file,
    )


def test_a_browser_export_parses_with_http_only_lines_comments_and_session_cookies() -> None:
    text = netscape(
        "# a comment",
        cookie(name="SID"),
        cookie(name="SAPISID", http_only=True),
        cookie(name="YSC", expires=0),
        cookie(domain="accounts.google.com", name="LSID"),
        "",
    )
    entries = parse_cookie_file(text)
    assert [(e.domain, e.name, e.expires) for e in entries] == [
        (".youtube.com", "SID", IN_A_YEAR),
        (".youtube.com", "SAPISID", IN_A_YEAR),
        (".youtube.com", "YSC", None),
        ("accounts.google.com", "LSID", IN_A_YEAR),
    ]


@pytest.mark.parametrize(
    ("bad_line", "complaint"),
    [
        (f".youtube.com TRUE / TRUE {IN_A_YEAR} SID {SECRET}", "1 tab-separated fields"),
        (f".youtube.com\tTRUE\t/\tTRUE\t{IN_A_YEAR}\tSID", "6 tab-separated fields instead of 7"),
        (f".youtube.com\tyes\t/\tTRUE\t{IN_A_YEAR}\tSID\t{SECRET}", "field 2 must be TRUE"),
        (f"youtube.com\tTRUE\t/\tTRUE\t{IN_A_YEAR}\tSID\t{SECRET}", "starts with a dot"),
        (f".youtube.com\tTRUE\t/\tyes\t{IN_A_YEAR}\tSID\t{SECRET}", "field 4 must be"),
        (f"  # an indented comment {SECRET}", "1 tab-separated fields"),
        (f".youtube.com\tTRUE\t/\tTRUE\tsoon\tSID\t{SECRET}", "expiry (field 5)"),
        (f".youtube.com\tTRUE\tpath\tTRUE\t{IN_A_YEAR}\tSID\t{SECRET}", "path (field 3)"),
        (f"\tTRUE\t/\tTRUE\t{IN_A_YEAR}\tSID\t{SECRET}", "domain (field 1)"),
    ],
)
def test_a_bad_line_is_named_by_number_and_never_quoted(bad_line: str, complaint: str) -> None:
    text = netscape(cookie(name="SID"), bad_line)  # header (2 lines), a cookie, then line 4
    with pytest.raises(CookieFileError) as error:
        parse_cookie_file(text)
    message = str(error.value)
    assert message.startswith("Line 4 of the cookie file is not a Netscape cookie:")
    assert complaint in message
    assert SECRET not in message and "youtube.com" not in message


def test_what_the_service_accepts_yt_dlp_loads_whole(tmp_path: Path) -> None:
    from yt_dlp.cookies import YoutubeDLCookieJar

    text = netscape(
        cookie(),
        cookie(name="SAPISID", http_only=True, expires=0),
        cookie(domain="accounts.google.com", name="LSID"),
        f"www.youtube.com\tFALSE\t/\tFALSE\t{IN_A_YEAR}.5\tPREF\tf1=5",
    )
    path = tmp_path / "cookies.txt"
    path.write_bytes(text)
    jar = YoutubeDLCookieJar(str(path))
    jar.load()
    assert len(jar) == len(parse_cookie_file(text)) == 4


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (netscape(), "holds no cookie."),
        (b"", "is empty."),
        (b"\n  \n", "is empty."),
        (netscape(cookie(), header=False), "Line 1 of the cookie file must be the header"),
        (netscape(cookie(domain=".example.com")), "no cookie for youtube.com or google.com"),
        (b"\xff\xfe binary", "not UTF-8 text"),
    ],
)
def test_a_file_without_youtube_cookies_is_refused(text: bytes, complaint: str) -> None:
    with pytest.raises(CookieFileError, match=complaint):
        parse_cookie_file(text)


def test_the_status_counts_sign_in_cookies_and_their_first_expiry(tmp_path: Path) -> None:
    settings = local_settings(tmp_path)
    save_cookies(settings, signed_in())
    status = cookie_status(settings)
    assert status.source == "upload" and status.parseable and status.error is None
    assert (status.count, status.auth_cookies) == (3, 2)
    assert status.expires_at == dt.datetime.fromtimestamp(IN_A_YEAR, dt.UTC)
    assert not status.expired and not status.expiring_soon
    assert status.uploaded_at is not None


@pytest.mark.parametrize(
    ("expires_in", "expired", "soon"),
    [(-60, True, False), (3 * 86400, False, True), (30 * 86400, False, False)],
)
def test_expired_and_expiring_cookies_are_told_apart(
    tmp_path: Path, expires_in: int, expired: bool, soon: bool
) -> None:
    settings = local_settings(tmp_path)
    save_cookies(settings, netscape(cookie(name="SID", expires=int(time.time()) + expires_in)))
    status = cookie_status(settings)
    assert (status.expired, status.expiring_soon) == (expired, soon)


def test_the_upload_is_a_0600_file_in_a_0700_directory_replaced_whole(tmp_path: Path) -> None:
    settings = local_settings(tmp_path)
    settings.ytdlp_cookies_dir.mkdir(mode=0o755)  # an existing, too open directory
    save_cookies(settings, signed_in())
    save_cookies(settings, netscape(cookie(name="HSID")))
    [stored] = settings.ytdlp_cookies_dir.iterdir()  # no temporary file left behind
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.ytdlp_cookies_dir.stat().st_mode) == 0o700
    assert uploaded_cookies(settings) == netscape(cookie(name="HSID"))


def test_without_an_upload_the_status_is_of_ytdlp_cookies_file_or_none(tmp_path: Path) -> None:
    assert cookie_status(local_settings(tmp_path)).source == "none"
    jar = tmp_path / "cookies.txt"
    jar.write_bytes(signed_in())
    status = cookie_status(local_settings(tmp_path, ytdlp_cookies_file=jar))
    assert (status.source, status.parseable, status.auth_cookies) == ("file", True, 2)
    jar.write_bytes(netscape("not a cookie"))
    broken = cookie_status(local_settings(tmp_path, ytdlp_cookies_file=jar))
    assert (broken.source, broken.parseable) == ("file", False)
    assert broken.error is not None and "Line 3" in broken.error
