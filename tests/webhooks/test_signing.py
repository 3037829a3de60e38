"""Webhook secrets are derived per key, and signatures check out exactly as the README's
receiver snippet checks them."""

from __future__ import annotations

import hashlib
import hmac
import inspect
import time
import uuid
from pathlib import Path
from typing import Any

from app.webhooks.signing import signature, webhook_secret
from tests.webhooks.receiver import verify_signature

SERVER_SECRET = b"server-secret-for-webhook-tests-0123456789"
BODY = b'{"id":"1","event":"job.completed"}'


def test_the_secret_is_an_hmac_of_the_key_id_under_the_server_secret() -> None:
    key_id = uuid.UUID("6f1c1f9e-3a52-4d43-9e0b-2a4f5d7c8b90")
    expected = hmac.new(SERVER_SECRET, f"webhook:{key_id}".encode(), hashlib.sha256).hexdigest()
    assert webhook_secret(SERVER_SECRET, key_id) == f"whsec_{expected}"


def test_every_key_and_every_server_secret_gives_another_secret() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    secrets = {
        webhook_secret(SERVER_SECRET, first),
        webhook_secret(SERVER_SECRET, second),
        webhook_secret(b"another-server-secret-0123456789abcdef", first),
    }
    assert len(secrets) == 3
    assert webhook_secret(SERVER_SECRET, first) == webhook_secret(SERVER_SECRET, first)


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    secret = "whsec_test"
    header = signature(secret, BODY, 1_700_000_000)
    mac = hmac.new(b"whsec_test", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={mac}"


def test_the_readme_check_accepts_a_fresh_signature_and_nothing_else() -> None:
    secret = webhook_secret(SERVER_SECRET, uuid.uuid4())
    now = int(time.time())
    header = signature(secret, BODY, now)
    assert verify_signature(secret, BODY, header)
    assert not verify_signature(secret, BODY + b" ", header), "a changed body"
    assert not verify_signature(webhook_secret(SERVER_SECRET, uuid.uuid4()), BODY, header)
    assert not verify_signature(secret, BODY, header.replace(f"t={now}", f"t={now + 1}"))
    assert not verify_signature(secret, BODY, "v1=" + header.split("v1=")[1]), "no timestamp"
    assert not verify_signature(secret, BODY, "garbage")


def test_the_readme_check_refuses_an_old_signature() -> None:
    secret = webhook_secret(SERVER_SECRET, uuid.uuid4())
    sent = int(time.time()) - 3600
    header = signature(secret, BODY, sent)
    assert not verify_signature(secret, BODY, header), "an hour-old delivery is a replay"
    assert verify_signature(secret, BODY, header, now=sent + 60)


def test_the_readme_snippet_is_the_receivers_check() -> None:
    """The verification code users copy from the README runs and accepts our signatures."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = next(
        part.split("```", 1)[0]
        for part in readme.split("```python\n")[1:]
        if "def verify_signature" in part.split("```", 1)[0]
    )
    namespace: dict[str, Any] = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    readme_check = namespace["verify_signature"]
    now = int(time.time())
    header = signature("whsec_readme", BODY, now)
    assert readme_check("whsec_readme", BODY, header) is True
    assert readme_check("whsec_readme", BODY + b" ", header) is False
    assert readme_check("whsec_other", BODY, header) is False
    assert readme_check("whsec_readme", BODY, header, now=now + 301) is False
    assert inspect.getsource(verify_signature).split('"""')[2].strip() in block
