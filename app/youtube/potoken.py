"""The PO-token provider: bgutil-ytdlp-pot-provider's HTTP server, which answers YouTube's
proof-of-origin checks for yt-dlp (its plugin, installed with the service, asks it).

yt-dlp finds the server through an extractor argument; the plugin sends its requests there
directly (not through the egress guard), and hands the server the guard's proxy for its
own requests to YouTube, which is why the server must share the worker's loopback (an ECS
sidecar, or a compose service in the worker's network namespace).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.core.config import Settings

# The plugin's provider key, and the path its server answers health checks on.
PROVIDER_KEY = "youtubepot-bgutilhttp"
PING_PATH = "/ping"


@dataclass(frozen=True)
class ProviderStatus:
    configured: bool
    reachable: bool
    version: str | None
    error: str | None


def provider_extractor_args(settings: Settings) -> dict[str, dict[str, list[str]]]:
    """yt-dlp's extractor_args naming the provider's base URL (none when not configured)."""
    if not settings.ytdlp_pot_provider_url:
        return {}
    return {PROVIDER_KEY: {"base_url": [settings.ytdlp_pot_provider_url]}}


def with_provider(params: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """`params` with the provider's extractor args added to any already there."""
    extra = provider_extractor_args(settings)
    if not extra:
        return params
    merged = dict(params.get("extractor_args", {}))
    for key, values in extra.items():
        merged[key] = {**merged.get(key, {}), **values}
    return {**params, "extractor_args": merged}


async def provider_status(settings: Settings, timeout: float) -> ProviderStatus:  # noqa: ASYNC109
    """Whether the configured provider answers its ping, and its version; `timeout` bounds
    the one request (the doctor runs several checks at once, each with its own budget)."""
    # Imported here: workers load this module, and httpx only when they need it.
    import httpx

    base_url = settings.ytdlp_pot_provider_url
    if not base_url:
        return ProviderStatus(configured=False, reachable=False, version=None, error=None)
    try:
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            response = await client.get(f"{base_url}{PING_PATH}")
    except httpx.HTTPError as exc:
        return _unreachable(f"{base_url}{PING_PATH} did not answer ({type(exc).__name__}).")
    if response.status_code != httpx.codes.OK:
        return _unreachable(f"{base_url}{PING_PATH} answered HTTP {response.status_code}.")
    try:
        version = response.json().get("version")
    except (ValueError, AttributeError):
        return _unreachable(f"{base_url}{PING_PATH} did not answer with the provider's JSON.")
    return ProviderStatus(
        configured=True,
        reachable=True,
        version=version if isinstance(version, str) else None,
        error=None,
    )


def _unreachable(error: str) -> ProviderStatus:
    return ProviderStatus(configured=True, reachable=False, version=None, error=error)
