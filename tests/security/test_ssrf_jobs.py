"""The SSRF table through the real API and worker: an operator widened ALLOWED_DOMAINS, and
still no request reaches a loopback, private, link-local or metadata address, whether the
URL names it in any spelling or an allowed host redirects there."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.jobs import submit, watch
from tests.support.stack import Stack, StartStack

pytestmark = pytest.mark.e2e
PUBLIC_HOST = "127.0.0.2"  # stands in for a public host: the only private range allowed


class _Site(ThreadingHTTPServer):
    daemon_threads = True
    hits = 0


class _Handler(BaseHTTPRequestHandler):
    server: _Site

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.hits += 1
        target = parse_qs(urlsplit(self.path).query).get("to")
        if target:
            self.send_response(302)
            self.send_header("Location", target[0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"<html><body>internal secrets</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(host: str) -> Iterator[_Site]:
    site = _Site((host, 0), _Handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    yield site
    site.shutdown()
    site.server_close()


@pytest.fixture(scope="module")
def target() -> Iterator[_Site]:
    """The internal service an attacker wants to reach, on loopback."""
    yield from _serve("127.0.0.1")


@pytest.fixture(scope="module")
def public() -> Iterator[_Site]:
    """An allowed host that redirects wherever it is told."""
    yield from _serve(PUBLIC_HOST)


def forms(port: int) -> list[str]:
    """Spellings of forbidden addresses, each naming the target's port."""
    return [
        f"http://127.0.0.1:{port}/",
        f"http://localhost:{port}/",
        f"http://localhost.:{port}/",
        f"http://LocalHost.:{port}/",
        f"http://2130706433:{port}/",
        f"http://0x7f000001:{port}/",
        f"http://0x7f.0.0.1:{port}/",
        f"http://0177.0.0.1:{port}/",
        f"http://017700000001:{port}/",
        f"http://127.1:{port}/",
        f"http://127.000.000.001:{port}/",
        f"http://[::1]:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        f"http://[::ffff:7f00:1]:{port}/",
        f"http://0.0.0.0:{port}/",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://169.254.170.2/v2/credentials/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://10.0.0.1/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://[fd00::1]/",
        "http://[fe80::1]/",
    ]


def hosts_of(urls: list[str]) -> list[str]:
    return sorted({urlsplit(url).hostname or "" for url in urls} | {PUBLIC_HOST})


@pytest.fixture(scope="module")
def ssrf_stack(start_stack: StartStack, target: _Site) -> Stack:
    return start_stack(
        "ssrf",
        redis_db=11,
        ALLOWED_DOMAINS=",".join(hosts_of(forms(target.server_address[1]))),
        ALLOW_PRIVATE_NETWORKS="false",
        ALLOWED_PRIVATE_CIDRS=f"{PUBLIC_HOST}/32",
    )


@pytest.fixture
async def http(ssrf_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=ssrf_stack.base_url, timeout=30) as client:
        yield client


async def test_every_spelling_of_a_forbidden_address_is_refused(
    ssrf_stack: Stack, http: httpx.AsyncClient, target: _Site
) -> None:
    key = ssrf_stack.key()
    urls = forms(target.server_address[1])
    assert len(urls) >= 20
    for url in urls:
        response = await http.post(
            "/api/v1/downloads", json={"url": url}, headers={"X-API-Key": key}
        )
        assert response.status_code == 400, (url, response.text)
        assert response.json()["error"]["code"] == "forbidden_address", url
        info = await http.get("/api/v1/info", params={"url": url}, headers={"X-API-Key": key})
        assert info.json()["error"]["code"] == "forbidden_address", url
    assert target.hits == 0


@pytest.mark.parametrize("index", range(len(forms(1))))
async def test_a_redirect_to_a_forbidden_address_fails_the_job(
    ssrf_stack: Stack, http: httpx.AsyncClient, target: _Site, public: _Site, index: int
) -> None:
    key = ssrf_stack.key()
    forbidden = forms(target.server_address[1])[index]
    hits_before = public.hits
    url = f"http://{PUBLIC_HOST}:{public.server_address[1]}/watch?to={forbidden}"
    job = await submit(http, key, url)
    watched = await watch(ssrf_stack.ws_url, job["job_id"], key=key)
    assert watched.final["status"] == "failed", watched.final
    assert watched.final["error"]["code"] == "forbidden_address", watched.final
    assert public.hits > hits_before, "the allowed host was asked"
    assert target.hits == 0, "the redirect never reached the internal service"


async def test_other_schemes_are_refused(ssrf_stack: Stack, http: httpx.AsyncClient) -> None:
    key = ssrf_stack.key()
    for url in ("file:///etc/passwd", "ftp://127.0.0.2/x", "gopher://127.0.0.2:70/_x", "data:,x"):
        response = await http.post(
            "/api/v1/downloads", json={"url": url}, headers={"X-API-Key": key}
        )
        assert response.status_code == 422, url
