"""The `transcribe` option in-process: decided at submission (the server's default when
unset), refused with a stable code while the server has no speech recognition; and the
cancel of a job waiting for, or in, its recognition."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.jobs.models import JobStage, JobStatus
from tests.support.factories import KeyFactory, set_job_row

WATCH_URL = "https://www.youtube.com/watch?v=aqz-KE-bpKQ"


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The suite's settings; with ASR enabled when the test is parametrized so."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    return settings.model_copy(update=overrides)


ASR_ON = {"asr_enabled": True, "asr_model": "/srv/models/whisper-small"}


async def create(client: httpx.AsyncClient, key: str, **body: Any) -> httpx.Response:
    return await client.post(
        "/api/v1/downloads", json={"url": WATCH_URL, **body}, headers={"X-API-Key": key}
    )


@pytest.mark.parametrize("mode", ["missing", "always"])
async def test_asking_for_recognition_while_it_is_off_is_a_clear_422(
    client: httpx.AsyncClient, make_key: KeyFactory, mode: str
) -> None:
    key = make_key()
    response = await create(client, key, transcribe=mode)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "asr_disabled" and "ASR_ENABLED" in error["message"]
    batch = await client.post(
        "/api/v1/batches",
        json={"urls": [WATCH_URL], "transcribe": mode},
        headers={"X-API-Key": key},
    )
    assert batch.status_code == 422 and batch.json()["error"]["code"] == "asr_disabled"
    listed = await client.get("/api/v1/downloads", headers={"X-API-Key": key})
    assert listed.json()["total"] == 0, "nothing was queued"


async def test_without_recognition_a_job_records_never(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    key = make_key()
    unset = await create(client, key)
    never = await create(client, key, transcribe="never")
    assert unset.status_code == never.status_code == 202
    assert unset.json()["options"]["transcribe"] == never.json()["options"]["transcribe"] == "never"


@pytest.mark.parametrize("settings", [ASR_ON], indirect=True)
async def test_with_recognition_the_server_default_is_recorded_on_the_job(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    key = make_key()
    unset = await create(client, key)
    always = await create(client, key, transcribe="always", transcript_only=True)
    no_text = await create(client, key, include_transcription=False)
    assert unset.json()["options"]["transcribe"] == "missing"
    assert always.json()["options"]["transcribe"] == "always"
    assert no_text.json()["options"]["transcribe"] == "never", "no transcript asked for"


@pytest.mark.parametrize("settings", [ASR_ON], indirect=True)
async def test_recognition_without_transcripts_or_an_unknown_mode_is_invalid(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    key = make_key()
    contradictory = await create(client, key, transcribe="always", include_transcription=False)
    unknown = await create(client, key, transcribe="sometimes")
    assert contradictory.status_code == unknown.status_code == 422
    assert "include_transcription" in contradictory.text
    assert unknown.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize("settings", [ASR_ON], indirect=True)
async def test_a_job_waiting_for_recognition_is_canceled_at_once_a_running_one_is_asked(
    client: httpx.AsyncClient, make_key: KeyFactory, settings: Settings
) -> None:
    key = make_key()
    headers = {"X-API-Key": key}
    waiting = (await create(client, key)).json()["job_id"]
    running = (await create(client, key)).json()["job_id"]
    now = dt.datetime.now(dt.UTC)
    for job_id, worker in ((waiting, None), (running, "host:1:abc")):
        set_job_row(
            settings.database_url,
            job_id,
            status=JobStatus.PROCESSING,
            stage=JobStage.TRANSCRIBING,
            worker_id=worker,
            heartbeat_at=now,
        )

    canceled = await client.delete(f"/api/v1/downloads/{waiting}", headers=headers)
    asked = await client.delete(f"/api/v1/downloads/{running}", headers=headers)

    assert canceled.status_code == asked.status_code == 202
    assert canceled.json()["status"] == "canceled"
    body = asked.json()
    assert (body["status"], body["stage"], body["cancel_requested"]) == (
        "processing",
        "transcribing",
        True,
    ), "its worker stops at its next heartbeat"
