"""Address rules applied when a URL is submitted (a download, a webhook), before anything
is queued; the egress guard applies them again to every connection."""

from __future__ import annotations

from urllib.parse import urlsplit

import anyio

from app.core.config import YOUTUBE_HOSTS, Settings
from app.security.addresses import (
    AddressPolicy,
    ForbiddenAddress,
    UnresolvableHost,
    normalize_host,
)
from app.security.exceptions import ForbiddenAddressError


async def check_address(url: str, settings: Settings) -> None:
    """Refuse URLs whose host is, or resolves to, an address the egress guard would refuse
    anyway. Hosts that do not resolve here are left to the guard at fetch time."""
    host = normalize_host(urlsplit(url).hostname or "")
    if host in YOUTUBE_HOSTS:
        return  # public by definition; the egress guard still checks every connection
    policy = AddressPolicy.from_settings(settings)
    port = urlsplit(url).port or (443 if url.startswith("https") else 80)
    try:
        await anyio.to_thread.run_sync(policy.resolve, host, port)
    except ForbiddenAddress as refusal:
        raise ForbiddenAddressError(str(refusal)) from refusal
    except UnresolvableHost:
        return
