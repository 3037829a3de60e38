"""YouTube cookies an admin uploads: checked as a Netscape cookie file, kept where only the
service can read them (a 0600 file, or a private S3 object), and summed up without a value.

A cookie's value is a signed-in account's credential: nothing here logs, returns or puts a
value (or a line that holds one) into an error message.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from app.core.config import Settings, StorageBackend
from app.storage.base import StorageUnavailable

logger = logging.getLogger(__name__)

COOKIE_FILE_NAME = "youtube-cookies.txt"
# Outside S3_PREFIX on purpose: the CDN serves that prefix and its lifecycle rule expires it.
S3_COOKIES_DIR = "private"
MAX_COOKIE_FILE_BYTES = 1024 * 1024
EXPIRING_SOON = dt.timedelta(days=7)
# The cookies that make a session signed in (what yt-dlp needs past a bot check).
AUTH_COOKIE_NAMES = frozenset(
    {
        "SID",
        "HSID",
        "SSID",
        "APISID",
        "SAPISID",
        "LOGIN_INFO",
        "__Secure-1PSID",
        "__Secure-3PSID",
        "__Secure-1PAPISID",
        "__Secure-3PAPISID",
    }
)
_SITE_DOMAINS = ("youtube.com", "google.com")
_HTTP_ONLY_PREFIX = "#HttpOnly_"
_FLAGS = frozenset({"TRUE", "FALSE"})
_MAGIC = re.compile(r"#( Netscape)? HTTP Cookie File")
_EXPIRES = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_FIELDS = 7


CookieSource = Literal["upload", "file", "none"]


class CookieFileError(ValueError):
    """Why a text is not a usable Netscape cookie file; the message never quotes the file."""


@dataclass(frozen=True)
class CookieEntry:
    """One cookie, without its value."""

    domain: str
    name: str
    expires: int | None  # seconds since the epoch; None for a session cookie

    @property
    def for_youtube(self) -> bool:
        host = self.domain.lstrip(".").lower()
        return any(host == site or host.endswith(f".{site}") for site in _SITE_DOMAINS)

    @property
    def signs_in(self) -> bool:
        return self.for_youtube and self.name in AUTH_COOKIE_NAMES


@dataclass(frozen=True)
class CookieStatus:
    """What the service knows of the cookies yt-dlp gets, values aside."""

    source: CookieSource
    parseable: bool
    count: int
    auth_cookies: int
    expires_at: dt.datetime | None  # the earliest expiry of the auth cookies
    expired: bool
    expiring_soon: bool
    error: str | None
    uploaded_at: dt.datetime | None = None


@dataclass(frozen=True)
class StoredCookies:
    text: bytes
    uploaded_at: dt.datetime


def parse_cookie_file(data: bytes, *, require_youtube: bool = True) -> list[CookieEntry]:
    """The cookies of a Netscape cookie file (what browser extensions and yt-dlp write), held
    to what yt-dlp's loader (http.cookiejar.MozillaCookieJar) accepts: a file it would refuse
    or skip lines of must not be stored, since every download would then fail or go without.
    Raises CookieFileError naming the first bad line by its number, or saying that no cookie
    is for youtube.com or google.com (unless `require_youtube` is false)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CookieFileError("The cookie file is not UTF-8 text.") from exc
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise CookieFileError("The cookie file is empty.")
    if not _MAGIC.match(lines[0]):
        raise CookieFileError(
            "Line 1 of the cookie file must be the header '# Netscape HTTP Cookie File'."
        )
    entries = [
        _parse_line(line, number)
        for number, line in enumerate(lines[1:], start=2)
        if not _is_comment(line)
    ]
    if not entries:
        raise CookieFileError("The cookie file holds no cookie.")
    if require_youtube and not any(entry.for_youtube for entry in entries):
        raise CookieFileError("The cookie file holds no cookie for youtube.com or google.com.")
    return entries


def _is_comment(line: str) -> bool:
    if line.startswith(_HTTP_ONLY_PREFIX):
        return False
    return line.startswith("#") or not line.strip()


def _parse_line(line: str, number: int) -> CookieEntry:
    fields = line.removeprefix(_HTTP_ONLY_PREFIX).split("\t")

    def bad(what: str) -> CookieFileError:
        return CookieFileError(
            f"Line {number} of the cookie file is not a Netscape cookie: {what}."
        )

    if len(fields) != _FIELDS:
        raise bad(f"it has {len(fields)} tab-separated fields instead of {_FIELDS}")
    domain, include_subdomains, path, secure, expires, name, _value = fields
    if not domain.strip() or any(ch.isspace() for ch in domain):
        raise bad("the domain (field 1) is empty or holds spaces")
    if include_subdomains != ("TRUE" if domain.startswith(".") else "FALSE"):
        raise bad("field 2 must be TRUE when the domain starts with a dot, else FALSE")
    if secure not in _FLAGS:
        raise bad("field 4 must be TRUE or FALSE")
    if not path.startswith("/"):
        raise bad("the path (field 3) must start with /")
    if expires and not _EXPIRES.fullmatch(expires):
        raise bad("the expiry (field 5) must be a number of seconds")
    if not all(field.isprintable() for field in fields):
        raise bad("it holds control characters")
    seconds = int(float(expires)) if expires else 0
    return CookieEntry(domain=domain, name=name, expires=seconds or None)


def summarize(
    entries: list[CookieEntry], *, source: CookieSource, uploaded_at: dt.datetime | None = None
) -> CookieStatus:
    """The status of parsed cookies: how many, how many sign in, and when the first of
    those expires."""
    auth = [entry for entry in entries if entry.signs_in]
    expiries = [entry.expires for entry in auth if entry.expires is not None]
    expires_at = dt.datetime.fromtimestamp(min(expiries), dt.UTC) if expiries else None
    now = dt.datetime.now(dt.UTC)
    expired = expires_at is not None and expires_at <= now
    return CookieStatus(
        source=source,
        parseable=True,
        count=len(entries),
        auth_cookies=len(auth),
        expires_at=expires_at,
        expired=expired,
        expiring_soon=not expired and expires_at is not None and expires_at - now <= EXPIRING_SOON,
        error=None,
        uploaded_at=uploaded_at,
    )


def _unusable(
    source: CookieSource, error: str | None, uploaded_at: dt.datetime | None = None
) -> CookieStatus:
    return CookieStatus(
        source=source,
        parseable=False,
        count=0,
        auth_cookies=0,
        expires_at=None,
        expired=False,
        expiring_soon=False,
        error=error,
        uploaded_at=uploaded_at,
    )


class CookieStore(Protocol):
    """Where uploaded cookies are kept: one file, replaced whole. Each method raises
    StorageUnavailable when the store cannot be used."""

    def save(self, text: bytes) -> None: ...

    def load(self) -> StoredCookies | None: ...

    def remove(self) -> bool: ...


class LocalCookieStore:
    """A 0600 file in a 0700 directory (YTDLP_COOKIES_DIR), replaced atomically."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / COOKIE_FILE_NAME

    def save(self, text: bytes) -> None:
        try:
            self._write(text)
        except OSError as exc:
            raise StorageUnavailable(f"cannot write the cookie file: {exc.strerror}") from exc

    def _write(self, text: bytes) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)  # mkdir leaves an existing directory's mode alone
        # mkstemp creates the file 0600, so the cookies are never readable by others.
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def load(self) -> StoredCookies | None:
        try:
            text = self.path.read_bytes()
            modified = self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageUnavailable(f"cannot read the cookie file: {exc.strerror}") from exc
        return StoredCookies(text=text, uploaded_at=dt.datetime.fromtimestamp(modified, dt.UTC))

    def remove(self) -> bool:
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageUnavailable(f"cannot remove the cookie file: {exc.strerror}") from exc
        return True


class S3CookieStore:
    """One object under private/ in the downloads bucket, beside (not under) S3_PREFIX: the
    CDN and the files API never serve it, the lifecycle rule never expires it, and the
    bucket's default encryption (SSE-KMS on AWS) covers it."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        # Imported here: boto3 costs every process that never uses S3 about 15 MB.
        from app.storage.s3 import s3_client

        self.bucket = settings.s3_bucket_name
        self.key = s3_cookies_key(settings.s3_prefix)
        self.client = client or s3_client(settings)

    def save(self, text: bytes) -> None:
        with _s3_failures("writing"):
            self.client.put_object(
                Bucket=self.bucket, Key=self.key, Body=text, ContentType="text/plain"
            )

    def load(self) -> StoredCookies | None:
        from botocore.exceptions import ClientError

        with _s3_failures("reading"):
            if not self._exists():
                return None
            try:
                answer = self.client.get_object(Bucket=self.bucket, Key=self.key)
            except ClientError as exc:
                if str(exc.response.get("Error", {}).get("Code")) in {"404", "NoSuchKey"}:
                    return None  # removed between the listing and the read
                raise
            text: bytes = answer["Body"].read()
        return StoredCookies(text=text, uploaded_at=answer["LastModified"])

    def remove(self) -> bool:
        with _s3_failures("removing"):
            if not self._exists():
                return False
            self.client.delete_object(Bucket=self.bucket, Key=self.key)
        return True

    def _exists(self) -> bool:
        # Listed, not asked for: without s3:ListBucket on a key, S3 answers a GET of a
        # missing object 403, not 404 (the task roles may list this one key, and no more).
        listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.key, MaxKeys=1)
        return any(item["Key"] == self.key for item in listing.get("Contents", []))


@contextmanager
def _s3_failures(doing: str) -> Iterator[None]:
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (Boto3Error, BotoCoreError, ClientError) as exc:
        raise StorageUnavailable(f"{doing} the cookies in S3 failed: {exc}") from exc


def s3_cookies_key(prefix: str) -> str:
    """private/<S3_PREFIX>/youtube-cookies.txt (private/youtube-cookies.txt without one)."""
    return "/".join(part for part in (S3_COOKIES_DIR, prefix, COOKIE_FILE_NAME) if part)


def cookie_store(settings: Settings) -> CookieStore:
    """S3 when files are stored in S3 (on AWS), else the local directory."""
    if settings.effective_storage is StorageBackend.S3:
        return S3CookieStore(settings)
    return LocalCookieStore(settings.ytdlp_cookies_dir)


def save_cookies(settings: Settings, text: bytes) -> CookieStatus:
    """Check `text` and keep it as the cookies every download uses from now on."""
    if len(text) > MAX_COOKIE_FILE_BYTES:
        raise CookieFileError(f"The cookie file is over {MAX_COOKIE_FILE_BYTES} bytes.")
    entries = parse_cookie_file(text)
    cookie_store(settings).save(text)
    logger.info(
        "cookies uploaded: %d cookies, %d sign-in cookies",
        len(entries),
        len([entry for entry in entries if entry.signs_in]),
    )
    return summarize(entries, source="upload", uploaded_at=dt.datetime.now(dt.UTC))


def remove_cookies(settings: Settings) -> bool:
    """Forget the uploaded cookies; whether there were any."""
    removed = cookie_store(settings).remove()
    if removed:
        logger.info("uploaded cookies removed")
    return removed


def uploaded_cookies(settings: Settings) -> bytes | None:
    """The uploaded cookie file's bytes, or None when none is uploaded."""
    stored = cookie_store(settings).load()
    return None if stored is None else stored.text


def cookies_for_ytdlp(settings: Settings) -> bytes | None:
    """The cookie file yt-dlp gets: the upload, else YTDLP_COOKIES_FILE, else None. Raises
    CookieFileError (naming the source, never quoting the file) for a file yt-dlp would
    refuse: its own error quotes the offending line, value and all."""
    text = uploaded_cookies(settings)
    source = "The uploaded cookies"
    if text is None and settings.ytdlp_cookies_file is not None:
        source = "YTDLP_COOKIES_FILE"
        try:
            text = settings.ytdlp_cookies_file.read_bytes()
        except OSError as exc:
            raise CookieFileError(f"{source} cannot be read: {exc.strerror}.") from exc
    if text is not None:
        try:
            parse_cookie_file(text, require_youtube=False)
        except CookieFileError as exc:
            raise CookieFileError(f"{source} cannot be used. {exc}") from None
    return text


def cookie_status(settings: Settings) -> CookieStatus:
    """The cookies yt-dlp gets: the uploaded ones first, else YTDLP_COOKIES_FILE, else none.
    Never raises for a missing or broken file: `parseable` and `error` say what is wrong."""
    try:
        stored = cookie_store(settings).load()
    except StorageUnavailable as exc:  # the doctor reports an unreachable store
        return _unusable("upload", f"The uploaded cookies could not be read: {exc}")
    if stored is not None:
        return _status_of(stored.text, source="upload", uploaded_at=stored.uploaded_at)
    if settings.ytdlp_cookies_file is None:
        return _unusable("none", None)
    try:
        text = settings.ytdlp_cookies_file.read_bytes()
    except OSError as exc:
        return _unusable("file", f"YTDLP_COOKIES_FILE cannot be read: {exc.strerror}.")
    return _status_of(text, source="file")


def _status_of(
    text: bytes, *, source: CookieSource, uploaded_at: dt.datetime | None = None
) -> CookieStatus:
    try:
        entries = parse_cookie_file(text)
    except CookieFileError as exc:
        return _unusable(source, str(exc), uploaded_at)
    return summarize(entries, source=source, uploaded_at=uploaded_at)
