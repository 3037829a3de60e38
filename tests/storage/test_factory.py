"""get_storage_handler picks local or S3 from settings and the environment it runs in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.core.config import Environment, Settings
from app.storage.factory import get_storage_handler
from app.storage.local import LocalStorageHandler
from app.storage.s3 import S3StorageHandler

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ECS_VAR = "ECS_CONTAINER_METADATA_URI_V4"


def test_localhost_stores_on_disk() -> None:
    assert isinstance(get_storage_handler(Settings(_env_file=None)), LocalStorageHandler)


def test_aws_stores_in_s3() -> None:
    settings = Settings(_env_file=None, environment="aws", s3_bucket_name="media")
    assert isinstance(get_storage_handler(settings), S3StorageHandler)


def test_running_on_ecs_means_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    monkeypatch.setenv(ECS_VAR, "http://169.254.170.2/v4/abc")
    settings = Settings(_env_file=None, s3_bucket_name="media")
    assert settings.effective_environment is Environment.AWS
    assert isinstance(get_storage_handler(settings), S3StorageHandler)


def test_an_explicit_environment_wins_over_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ECS_VAR, "http://169.254.170.2/v4/abc")
    settings = Settings(_env_file=None, environment="localhost")
    assert isinstance(get_storage_handler(settings), LocalStorageHandler)


def test_storage_backend_overrides_the_environment() -> None:
    local_on_aws = Settings(_env_file=None, environment="aws", storage_backend="local")
    assert isinstance(get_storage_handler(local_on_aws), LocalStorageHandler)
    s3_locally = Settings(_env_file=None, storage_backend="s3", s3_bucket_name="media")
    assert isinstance(get_storage_handler(s3_locally), S3StorageHandler)


def test_s3_without_a_bucket_is_refused() -> None:
    with pytest.raises(ValidationError, match="S3_BUCKET_NAME is not set"):
        Settings(_env_file=None, environment="aws")


def test_the_api_does_not_start_in_aws_mode_without_a_bucket() -> None:
    env = {**os.environ, "ENVIRONMENT": "aws", "S3_BUCKET_NAME": ""}
    result = subprocess.run(
        [sys.executable, "-m", "app.serve"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "S3_BUCKET_NAME is not set" in result.stderr
