"""The routes of YTDLP_PROXIES (or YTDLP_PROXY, or none), and their breakers in real Redis:
one route rests while the others carry on; every route resting is YouTube's pause."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
import redis.asyncio
from pydantic import ValidationError

from app.core.config import Settings
from app.youtube import routes
from app.youtube.routes import RouteState
from tests.support.constants import TEST_REDIS_DB
from tests.support.services import Services

FIRST = "http://alice:s3cret-one@proxy-a.example:3128"
SECOND = "http://bob:s3cret-two@proxy-b.example:8080"


def _settings(**values: str) -> Settings:
    return Settings(_env_file=None, breaker_cooldown_seconds=60, **values)  # type: ignore[arg-type]


@pytest.fixture
def client(services: Services) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(f"{services.redis_url}/{TEST_REDIS_DB}") as connection:
        for key in connection.scan_iter(f"{routes.KEY_PREFIX}*"):
            connection.delete(key)
        yield connection


def test_ytdlp_proxies_are_routes_in_order_named_without_credentials() -> None:
    settings = _settings(ytdlp_proxies=f"{FIRST}, direct ,{SECOND}")
    assert routes.route_urls(settings) == [
        ("http://proxy-a.example:3128", FIRST),
        ("direct", None),
        ("http://proxy-b.example:8080", SECOND),
    ]
    assert "s3cret" not in repr(routes.routes(settings))


def test_ytdlp_proxy_is_one_route_and_no_proxy_is_direct() -> None:
    assert routes.route_urls(_settings(ytdlp_proxy=FIRST)) == [
        ("http://proxy-a.example:3128", FIRST)
    ]
    assert routes.route_urls(_settings()) == [("direct", None)]


def test_two_accounts_on_one_proxy_are_two_routes_with_their_own_breakers() -> None:
    other_account = FIRST.replace("alice", "carol")
    configured = routes.routes(_settings(ytdlp_proxies=f"{FIRST},{other_account}"))
    assert [route.name for route in configured] == [
        "http://proxy-a.example:3128",
        "http://proxy-a.example:3128 #2",
    ]
    assert configured[0].key != configured[1].key
    assert all("alice" not in route.key and "s3cret" not in route.key for route in configured)


@pytest.mark.parametrize(
    "value",
    [
        "http://user:hunter2@proxy.example",  # no port
        "socks5://user:hunter2@proxy.example:1080",
        f"{FIRST},https://user:hunter2@proxy.example:443",
    ],
)
def test_a_bad_route_stops_the_process_without_echoing_it(value: str) -> None:
    with pytest.raises(ValidationError) as error:
        _settings(ytdlp_proxies=value)
    assert "YTDLP_PROXIES" in str(error.value)
    assert "hunter2" not in str(error.value) and "s3cret" not in str(error.value)


def test_ytdlp_proxy_and_ytdlp_proxies_together_are_refused() -> None:
    with pytest.raises(ValidationError, match="YTDLP_PROXIES or YTDLP_PROXY"):
        _settings(ytdlp_proxy=FIRST, ytdlp_proxies=SECOND)


def test_a_route_that_rests_is_skipped_until_every_route_rests(client: redis.Redis) -> None:
    settings = _settings(ytdlp_proxies=f"{FIRST},{SECOND}")
    first, second = routes.routes(settings)
    assert routes.choose(client, settings) == first

    routes.rest(client, first, cooldown_seconds=60, reason="bot check")
    states = routes.route_states(client, settings)
    assert states[0].resting and 0 < states[0].retry_in_seconds <= 60
    assert states[0].reason == "bot check"
    assert states[1] == RouteState("http://proxy-b.example:8080", False, 0, None)
    assert not routes.all_resting(states)
    assert routes.choose(client, settings) == second

    routes.rest(client, second, cooldown_seconds=20, reason="HTTP 429")
    states = routes.route_states(client, settings)
    assert routes.all_resting(states)
    assert 0 < routes.earliest_wake(states) <= 20
    assert routes.choose(client, settings) == second, "the route that wakes first"


async def test_route_states_read_the_same_breakers_asynchronously(
    client: redis.Redis, services: Services
) -> None:
    settings = _settings(ytdlp_proxies=f"direct,{SECOND}")
    routes.rest(client, routes.routes(settings)[1], cooldown_seconds=60, reason="bot check")
    async_client = redis.asyncio.Redis.from_url(f"{services.redis_url}/{TEST_REDIS_DB}")
    try:
        states = await routes.route_states_async(async_client, settings)
        assert await routes.choose_async(async_client, settings) == routes.routes(settings)[0]
    finally:
        await async_client.aclose()
    assert [(state.name, state.resting, state.reason) for state in states] == [
        ("direct", False, None),
        ("http://proxy-b.example:8080", True, "bot check"),
    ]


def test_without_redis_no_route_rests() -> None:
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    settings = _settings(ytdlp_proxies=f"{FIRST},{SECOND}")
    states = routes.route_states(unreachable, settings)
    assert [state.resting for state in states] == [False, False]
    assert routes.choose(unreachable, settings).name == "http://proxy-a.example:3128"
