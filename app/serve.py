"""Run the API: `python -m app.serve` (HOST and PORT from settings).

uvicorn with two additions: on SIGTERM, live progress streams are closed with 1001
("going away") so clients reconnect elsewhere, before uvicorn's own shutdown; and limits
sized for thousands of progress streams (API_LIMIT_CONCURRENCY connections, API_BACKLOG,
and an open-files limit raised to fit them).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import resource
import socket

import uvicorn
from fastapi import FastAPI

from app.api.protocol import ExpressWebSocketProtocol, head_timeout_protocol
from app.api.state import has_state, state_of
from app.core.config import get_settings
from app.core.memtrace import setup_memory_trace
from app.main import create_app

logger = logging.getLogger(__name__)

WEBSOCKET_CLOSE_SECONDS = 5.0
GRACEFUL_SHUTDOWN_SECONDS = 20
# Files a process needs besides its client connections: database and Redis connections,
# storage, logs, the Python runtime.
SPARE_FILES = 512


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.api = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if has_state(self.api):
            state = state_of(self.api)
            state.going_away.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(WEBSOCKET_CLOSE_SECONDS):
                    await state.metrics.websockets_idle.wait()
        await super().shutdown(sockets)


def _forwarded_allow_ips(trusted: tuple[str, ...]) -> str | None:
    """TRUSTED_PROXIES as uvicorn reads it. uvicorn takes `10.0.1.5/16` (host bits set) for a
    literal that matches nothing, where the rate limiter reads 10.0.0.0/16: normalise both."""
    return ",".join(str(ipaddress.ip_network(network, strict=False)) for network in trusted) or None


def raise_open_files_limit(connections: int) -> int:
    """Lift the soft open-files limit (often 1024) towards the hard one, so that every
    connection uvicorn admits has a descriptor; returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + SPARE_FILES
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft < wanted:
        logger.warning(
            "open-files limit %d is below API_LIMIT_CONCURRENCY + %d; raise the hard limit "
            "(ulimit -Hn) or lower API_LIMIT_CONCURRENCY",
            soft,
            SPARE_FILES,
        )
    return soft


def main() -> None:
    settings = get_settings()
    app = create_app(settings)
    # Off unless MEMORY_TRACE_DIR: allocation snapshots on SIGUSR2, for finding leaks.
    setup_memory_trace(settings, role="api")
    raise_open_files_limit(settings.api_limit_concurrency)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        # Our own logging (set up by create_app) formats uvicorn's lines too.
        log_config=None,
        # X-Forwarded-For and -Proto are believed only from TRUSTED_PROXIES; with none set,
        # not even from 127.0.0.1, or any local client could pick its own rate-limit identity.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=_forwarded_allow_ips(settings.trusted_proxies),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        timeout_keep_alive=settings.api_keep_alive_seconds,
        http=head_timeout_protocol(settings.request_head_timeout_seconds),
        # Progress events to thousands of sockets: the express lane (app.api.protocol).
        ws=ExpressWebSocketProtocol,
        # Beyond this many connections and requests at once uvicorn answers 503 instead of
        # running out of descriptors; the backlog absorbs a burst of reconnecting clients.
        limit_concurrency=settings.api_limit_concurrency,
        backlog=settings.api_backlog,
        # Progress messages are a few hundred bytes: compressing them for each of thousands
        # of sockets would cost more CPU than it saves bytes.
        ws_per_message_deflate=False,
    )
    GracefulServer(config, app).run()


if __name__ == "__main__":
    main()
