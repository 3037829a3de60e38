"""Cookie files the youtube tests upload: Netscape text with a recognisable secret value."""

from __future__ import annotations

import time

# Every value in these files; a test fails if it shows up in a log or an answer.
SECRET = "yds-cookie-secret-7f3a91c2"
IN_A_YEAR = int(time.time()) + 365 * 86400


def netscape(*lines: str, header: bool = True) -> bytes:
    head = ["# Netscape HTTP Cookie File", ""] if header else []
    return ("\n".join([*head, *lines]) + "\n").encode()


def cookie(
    domain: str = ".youtube.com",
    name: str = "SID",
    expires: int = IN_A_YEAR,
    value: str = SECRET,
    *,
    http_only: bool = False,
    secure: bool = True,
) -> str:
    prefix = "#HttpOnly_" if http_only else ""
    subdomains = "TRUE" if domain.startswith(".") else "FALSE"
    https = "TRUE" if secure else "FALSE"
    return f"{prefix}{domain}\t{subdomains}\t/\t{https}\t{expires}\t{name}\t{value}"


def signed_in(expires: int = IN_A_YEAR) -> bytes:
    """A signed-in YouTube session: two auth cookies, one preference cookie."""
    return netscape(
        cookie(name="SID", expires=expires),
        cookie(name="__Secure-3PSID", expires=expires + 3600, http_only=True),
        cookie(name="PREF", expires=expires - 3600),
    )
