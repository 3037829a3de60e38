"""A client generated from the running service's /api/openapi.json with
openapi-python-client drives a real stack (API and worker): create, get, list, cancel and
file download, with the errors parsed into the generated ErrorResponse model."""

from __future__ import annotations

import hashlib
import importlib
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.support.offline_youtube import SLOW_VIDEO_ID, STANDARD_VIDEO_ID
from tests.support.services import require_tool
from tests.support.stack import PROJECT_ROOT, Stack

pytestmark = pytest.mark.e2e

GENERATOR = PROJECT_ROOT / ".venv-openapi-client" / "bin" / "openapi-python-client"
PACKAGE = "yds_generated_client"


@pytest.fixture(scope="module")
def generated(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The package openapi-python-client makes from the service's own document, imported."""
    generator = require_tool(
        str(GENERATOR) if GENERATOR.exists() else None,
        ".venv-openapi-client is missing: run make test (it creates .venv-openapi-client)",
    )
    base = tmp_path_factory.mktemp("generated-client")
    spec = base / "openapi.json"
    spec.write_bytes(httpx.get(f"{stack.base_url}/api/openapi.json", timeout=30).content)
    config = base / "config.yaml"
    # The generator reads JSON, text/* and octet-stream bodies; the podcast feed is RSS
    # (application/rss+xml), which its documented override reads as text.
    config.write_text(
        f"project_name_override: {PACKAGE}\npackage_name_override: {PACKAGE}\npost_hooks: []\n"
        "content_type_overrides:\n  application/rss+xml: text/xml\n"
    )
    result = subprocess.run(
        [generator, "generate", "--path", str(spec), "--meta", "none",
         "--output-path", str(base / PACKAGE), "--config", str(config)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(base))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(base))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def operation(package: ModuleType, tag: str, name: str) -> Any:
    """A generated operation module, by tag and operationId."""
    return importlib.import_module(f"{package.__name__}.api.{tag}.{name}")


def model(package: ModuleType, name: str) -> Any:
    return getattr(importlib.import_module(f"{package.__name__}.models"), name)


def poll(fetch: Callable[[], Any], done: Callable[[Any], bool], within: float = 120) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_a_generated_client_creates_gets_lists_cancels_and_downloads(
    generated: ModuleType, stack: Stack
) -> None:
    client = generated.AuthenticatedClient(
        base_url=stack.base_url,
        token=stack.key("generated-client"),
        prefix="",
        auth_header_name="X-API-Key",
        timeout=httpx.Timeout(30),
        raise_on_unexpected_status=True,
    )
    create = operation(generated, "downloads", "create_download_api_v1_downloads_post")
    get = operation(generated, "downloads", "get_download_api_v1_downloads_job_id_get")
    listing = operation(generated, "downloads", "list_downloads_api_v1_downloads_get")
    delete = operation(generated, "downloads", "delete_download_api_v1_downloads_job_id_delete")
    download = operation(
        generated, "downloads", "get_download_file_api_v1_downloads_job_id_files_file_id_get"
    )
    download_request, job_out, error_response, job_status = (
        model(generated, name)
        for name in ("DownloadRequest", "JobOut", "ErrorResponse", "JobStatus")
    )

    with client:
        # create
        body = download_request(url=stack.youtube.video_url(STANDARD_VIDEO_ID))
        body.include_transcription = False
        created = create.sync(client=client, body=body)
        assert isinstance(created, job_out), created
        assert created.status == job_status.QUEUED

        # get, until the worker has finished it
        open_statuses = (job_status.QUEUED, job_status.PROCESSING)
        job = poll(
            lambda: get.sync(job_id=created.job_id, client=client),
            lambda job: job.status not in open_statuses,
        )
        assert isinstance(job, job_out) and job.status == job_status.COMPLETED, job

        # list
        page = listing.sync(client=client, limit=10)
        assert created.job_id in [item.job_id for item in page.items]

        # file download: the bytes the service recorded
        [media] = [f for f in job.files if f.kind.value == "video"]
        fetched = download.sync_detailed(job_id=job.job_id, file_id=media.id, client=client)
        assert fetched.status_code == 200
        assert len(fetched.content) == media.size
        assert hashlib.sha256(fetched.content).hexdigest() == media.sha256

        # cancel
        slow = create.sync(
            client=client, body=download_request(url=stack.youtube.video_url(SLOW_VIDEO_ID))
        )
        assert isinstance(slow, job_out)
        canceling = delete.sync_detailed(job_id=slow.job_id, client=client)
        assert canceling.status_code == 202
        canceled = poll(
            lambda: get.sync(job_id=slow.job_id, client=client),
            lambda job: job.status == job_status.CANCELED,
        )
        assert canceled.status == job_status.CANCELED

        # typed errors
        missing = get.sync_detailed(job_id=uuid.uuid4(), client=client)
        assert missing.status_code == 404
        assert isinstance(missing.parsed, error_response)
        assert missing.parsed.error.code == "job_not_found"
        unsupported = create.sync(client=client, body=download_request(url="https://example.com/x"))
        assert isinstance(unsupported, error_response)
        assert unsupported.error.code == "unsupported_url"
        malformed = create.sync_detailed(client=client, body=download_request(url="not a url"))
        assert malformed.status_code == 422
        assert isinstance(malformed.parsed, error_response)
        assert malformed.parsed.error.code == "validation_error"
        assert malformed.parsed.error.details
        out_of_range = listing.sync_detailed(client=client, limit=0)
        assert out_of_range.status_code == 422
        assert isinstance(out_of_range.parsed, error_response)
        assert out_of_range.parsed.error.code == "validation_error"
