"""A webhook POST reaches only addresses the egress policy approves, connects to the very
address it checked (Host and TLS name unchanged), and never follows a redirect."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from app.security.addresses import AddressPolicy
from app.webhooks.client import post_checked
from tests.webhooks.receiver import receiver

BODY = b'{"event":"job.completed"}'
HEADERS = {"Content-Type": "application/json", "X-YDS-Event": "job.completed"}
OPEN = AddressPolicy(allow_private=True)  # what ALLOW_PRIVATE_NETWORKS=true gives


def test_a_2xx_answer_is_a_delivery_with_the_body_and_headers_intact() -> None:
    with receiver([204]) as hook:
        result = post_checked(hook.url(), BODY, headers=HEADERS, policy=OPEN, timeout=5)
        [request] = hook.received
    assert result.delivered and result.status_code == 204 and result.error is None
    assert request.body == BODY and request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-yds-event"] == "job.completed"


def test_the_host_header_keeps_the_name_while_the_checked_address_is_dialled() -> None:
    with receiver() as hook:
        url = hook.url("/by-name?x=1", host="localhost")
        result = post_checked(url, BODY, headers=HEADERS, policy=OPEN, timeout=5)
        [request] = hook.received
    assert result.delivered
    assert request.headers["host"] == f"localhost:{hook.port}"
    assert request.path == "/by-name?x=1"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_private_address_is_refused_before_any_connection(host: str) -> None:
    with receiver() as hook:
        result = post_checked(
            hook.url(host=host), BODY, headers=HEADERS, policy=AddressPolicy(), timeout=5
        )
        assert hook.received == []
    assert not result.delivered and result.status_code is None
    assert result.error is not None and "forbidden address" in result.error
    assert "loopback" in result.error


def test_only_the_allowed_private_range_is_reachable() -> None:
    policy = AddressPolicy(allowed_cidrs=(ipaddress.ip_network("127.0.0.2/32"),))
    with receiver(host="127.0.0.2") as allowed, receiver() as internal:
        reached = post_checked(
            allowed.url(host="127.0.0.2"), BODY, headers={}, policy=policy, timeout=5
        )
        refused = post_checked(internal.url(), BODY, headers={}, policy=policy, timeout=5)
        assert internal.received == []
    assert reached.delivered
    assert refused.error is not None and "forbidden address" in refused.error


def test_redirects_are_not_followed() -> None:
    with receiver([307]) as hook:
        result = post_checked(hook.url(), BODY, headers=HEADERS, policy=OPEN, timeout=5)
        assert len(hook.received) == 1
    assert not result.delivered and result.status_code == 307 and result.error == "HTTP 307"


def test_an_error_status_is_recorded_as_such() -> None:
    with receiver([500]) as hook:
        result = post_checked(hook.url(), BODY, headers=HEADERS, policy=OPEN, timeout=5)
    assert result.status_code == 500 and not result.delivered and result.error == "HTTP 500"


def test_a_closed_port_and_a_silent_receiver_are_errors_without_status() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    refused = post_checked(f"http://127.0.0.1:{port}/", BODY, headers={}, policy=OPEN, timeout=5)
    assert refused.status_code is None and refused.error is not None
    assert refused.error.startswith("cannot connect to 127.0.0.1")

    with receiver(delay=3) as slow:
        late = post_checked(slow.url(), BODY, headers={}, policy=OPEN, timeout=0.5)
    assert late.status_code is None and late.error == "no answer within 0.5 s"


def test_an_unresolvable_host_is_an_error() -> None:
    result = post_checked("http://no-such-host.invalid/", BODY, headers={}, policy=OPEN, timeout=5)
    assert result.status_code is None
    assert result.error is not None and "cannot resolve no-such-host.invalid" in result.error


@pytest.fixture(scope="module")
def localhost_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_https_checks_the_certificate_against_the_name_not_the_dialled_address(
    localhost_certificate: tuple[Path, Path],
) -> None:
    cert, key = localhost_certificate
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    with receiver(tls=server_context) as hook:
        by_name = f"https://localhost:{hook.port}/hook"
        result = post_checked(by_name, BODY, headers={}, policy=OPEN, timeout=5, verify=trusting)
        assert result.delivered, result.error
        assert hook.server_names[-1] == "localhost"
        assert hook.received[0].headers["host"] == f"localhost:{hook.port}"

        by_address = f"https://127.0.0.1:{hook.port}/hook"
        mismatch = post_checked(
            by_address, BODY, headers={}, policy=OPEN, timeout=5, verify=trusting
        )
        assert mismatch.status_code is None and mismatch.error is not None
        assert len(hook.received) == 1, "the certificate does not name 127.0.0.1"
