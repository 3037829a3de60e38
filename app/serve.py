"""Run the API: `python -m app.serve` (HOST and PORT from settings).

uvicorn with one addition: on SIGTERM, live progress WebSockets are closed with 1001
("going away") so clients reconnect elsewhere, before uvicorn's own shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket

import uvicorn
from fastapi import FastAPI

from app.api.protocol import head_timeout_protocol
from app.api.state import has_state, state_of
from app.core.config import get_settings
from app.main import create_app

WEBSOCKET_CLOSE_SECONDS = 5.0
GRACEFUL_SHUTDOWN_SECONDS = 20


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


def main() -> None:
    settings = get_settings()
    app = create_app(settings)
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
        http=head_timeout_protocol(settings.request_head_timeout_seconds),
    )
    GracefulServer(config, app).run()


if __name__ == "__main__":
    main()
