"""Sliding-window limits per key and per client address, shared through Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio
from fastapi import FastAPI

from app.api.ratelimit import RateLimiter, client_ip
from app.core.config import Settings
from app.main import create_app
from tests.support.factories import create_key, issue_key
from tests.support.stack import Stack, start_api


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(
        settings.model_copy(
            update={
                "rate_limit_per_minute": 3,
                "rate_limit_per_ip_per_minute": 5,
                "trusted_proxies": ("127.0.0.0/8",),
            }
        )
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def fresh_ip() -> str:
    """A client address of its own, so earlier requests do not share the window.

    The client is the rightmost address that is not a trusted proxy (here the 10.x one),
    so that is the part that must be unique: 24 random bits, not a few hundred values
    that tests running within the same minute could share.
    """
    host = uuid.uuid4().int % (1 << 24)
    return f"203.0.113.{host % 250 + 1}, 10.{host >> 16}.{(host >> 8) & 255}.{host & 255}"


async def test_the_request_past_the_key_limit_gets_429_with_headers(
    limited: httpx.AsyncClient, database_url: str
) -> None:
    headers = {"X-API-Key": issue_key(database_url), "X-Forwarded-For": fresh_ip()}
    answers = [await limited.get("/api/v1/downloads", headers=headers) for _ in range(4)]

    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in answers[:3]] == ["2", "1", "0"]
    assert all(r.headers["ratelimit-limit"] == "3" for r in answers)
    refused = answers[3]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert 0 < int(refused.headers["ratelimit-reset"]) <= 60


async def test_a_per_key_override(limited: httpx.AsyncClient, database_url: str) -> None:
    from app.auth.service import KeyLimits

    key = create_key(database_url, limits=KeyLimits(rate_limit_per_minute=1)).secret
    headers = {"X-API-Key": key, "X-Forwarded-For": fresh_ip()}
    first = await limited.get("/api/v1/downloads", headers=headers)
    second = await limited.get("/api/v1/downloads", headers=headers)
    assert (first.status_code, second.status_code) == (200, 429)


async def test_the_address_limit_also_stops_key_guessing(limited: httpx.AsyncClient) -> None:
    headers = {"X-API-Key": "yds_guess", "X-Forwarded-For": fresh_ip()}
    codes = [
        (await limited.get("/api/v1/downloads", headers=headers)).status_code for _ in range(6)
    ]
    assert codes == [401] * 5 + [429]


async def test_no_request_is_forgotten_at_a_minute_boundary(settings: Settings) -> None:
    """One request just before a minute ends and three just after it: under a limit of 3 the
    last is refused, as the window still holds all four."""
    now = [60 * 29_000_000 - 0.1]  # a tenth of a second before a minute's end
    limiter = RateLimiter(redis.asyncio.Redis.from_url(settings.redis_url), clock=lambda: now[0])
    identity = f"test:{uuid.uuid4()}"
    states = [await limiter.hit_all([(identity, 3)])]
    for _ in range(3):
        now[0] += 0.1
        states.append(await limiter.hit_all([(identity, 3)]))
    await limiter.aclose()
    assert [(state[-1].allowed, state[-1].remaining) for state in states] == [
        (True, 2),
        (True, 1),
        (True, 0),
        (False, 0),
    ]


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    trusted = ("10.0.0.0/8",)
    assert client_ip("10.1.2.3", "198.51.100.7, 10.9.9.9", trusted) == "198.51.100.7"
    assert client_ip("198.51.100.9", "1.2.3.4", trusted) == "198.51.100.9", "spoofed header"
    assert client_ip("10.1.2.3", None, trusted) == "10.1.2.3"
    assert client_ip("10.1.2.3", "6.6.6.6, 198.51.100.7", trusted) == "198.51.100.7"


async def test_limits_hold_across_two_api_processes(stack: Stack) -> None:
    env = {**stack.env, "RATE_LIMIT_PER_MINUTE": "5"}
    first, first_url = start_api(env, stack.log_dir, name="api-limited-1")
    second, second_url = start_api(env, stack.log_dir, name="api-limited-2")
    try:
        headers = {"X-API-Key": stack.key("shared-limit")}
        async with httpx.AsyncClient(timeout=10) as client:
            answers = [
                await client.get(f"{url}/api/v1/downloads", headers=headers)
                for url in [first_url, second_url] * 3
            ]
    finally:
        first.stop()
        second.stop()
    assert [r.status_code for r in answers] == [200] * 5 + [429]
    assert answers[-1].headers["retry-after"]


async def _exhaust_then_switch(base_url: str, first: str, second: str) -> int:
    """Spend the address limit with X-Forwarded-For `first`, then ask once with `second`:
    the status says whether the header moved the request to another window."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        for _ in range(4):
            spent = await client.get("/api/v1/downloads", headers={"X-Forwarded-For": first})
            if spent.status_code == 429:
                break
        assert spent.status_code == 429, spent.text
        switched = await client.get("/api/v1/downloads", headers={"X-Forwarded-For": second})
        return switched.status_code


@pytest.mark.parametrize(
    ("trusted", "expected"),
    [pytest.param("", 429, id="no-trusted-proxies"), pytest.param("127.0.0.1", 401, id="trusted")],
)
async def test_forwarded_for_from_loopback_counts_only_from_a_trusted_proxy(
    stack: Stack, trusted: str, expected: int
) -> None:
    env = {**stack.env, "RATE_LIMIT_PER_IP_PER_MINUTE": "3", "TRUSTED_PROXIES": trusted}
    api, base_url = start_api(env, stack.log_dir, name=f"api-forwarded-{trusted or 'none'}")
    try:
        status = await _exhaust_then_switch(base_url, fresh_ip(), fresh_ip())
    finally:
        api.stop()
    assert status == expected
