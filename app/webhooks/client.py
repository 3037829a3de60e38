"""One webhook POST, only to an address the egress policy approved.

The host is resolved and every address checked (`AddressPolicy.resolve`), then the request
goes to the checked IP itself: the URL's host is swapped for the address while the Host
header and the TLS server name (SNI and certificate check) keep the original name. Nothing
resolves the name a second time, so DNS rebinding between check and connect changes nothing.
Redirects are not followed, and proxies from the environment are ignored: a proxy would
connect on our behalf to whatever the name means to it.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.security.addresses import AddressPolicy, ForbiddenAddress, UnresolvableHost

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True)
class PostResult:
    """The receiver's status, or why there is none."""

    status_code: int | None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post_checked(
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str],
    policy: AddressPolicy,
    timeout: float,
    verify: ssl.SSLContext | bool = True,
) -> PostResult:
    """POST `body` to `url`; never raises for network trouble, returns it as the error."""
    # Imported here: a worker process that never delivers a webhook does not load httpx.
    import httpx

    target = httpx.URL(url)
    host = target.raw_host.decode("ascii")
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        addresses = policy.resolve(host, port)
    except ForbiddenAddress as refusal:
        return PostResult(None, f"forbidden address: {refusal}")
    except UnresolvableHost as exc:
        return PostResult(None, str(exc))
    pinned_headers = {**headers, "Host": target.netloc.decode("ascii")}
    failure = "no address to connect to"
    with httpx.Client(
        timeout=timeout, follow_redirects=False, trust_env=False, verify=verify
    ) as client:
        for address in addresses:
            try:
                return _post(client, target.copy_with(host=address), body, pinned_headers, host)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Nothing was sent yet: the next address of the name may answer.
                failure = f"cannot connect to {address}: {str(exc) or type(exc).__name__}"
            except httpx.TimeoutException:
                return PostResult(None, f"no answer within {timeout:g} s")
            except httpx.HTTPError as exc:
                return PostResult(None, f"request failed: {str(exc) or type(exc).__name__}")
    return PostResult(None, failure)


def _post(
    client: httpx.Client, target: httpx.URL, body: bytes, headers: dict[str, str], name: str
) -> PostResult:
    # Only the status matters: the response body is never read.
    with client.stream(
        "POST", target, content=body, headers=headers, extensions={"sni_hostname": name}
    ) as response:
        status = response.status_code
    return PostResult(status, None if 200 <= status < 300 else f"HTTP {status}")
