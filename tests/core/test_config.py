"""Settings fail fast, with messages that name the setting and never print a secret."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.core.config import Settings


def test_settings_errors_never_print_the_bad_value() -> None:
    with pytest.raises(ValidationError) as error:
        Settings(_env_file=None, ytdlp_proxy="http://user:hunter2@proxy.example")
    assert "hunter2" not in str(error.value) and "YTDLP_PROXY" in str(error.value)
    with pytest.raises(ValidationError) as error:
        Settings(_env_file=None, ytdlp_update_index_url="ftp://user:hunter2@mirror.example")
    assert "hunter2" not in str(error.value) and "YTDLP_UPDATE_INDEX_URL" in str(error.value)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("api_key_secret", "short", "at least 32"),
        ("database_url", "mysql://x", "async driver"),
        ("trusted_proxies", "not-a-network", "does not appear to be"),
        ("s3_prefix", "../escape", "plain path"),
        ("ytdlp_update", "weekly", "'off', 'stable' or 'nightly'"),
        ("ytdlp_update_interval_hours", "0", "greater than or equal to 0.25"),
        ("ytdlp_update_index_url", "file:///mirror", r"http\(s\)://"),
    ],
)
def test_bad_values_stop_the_process_with_a_clear_message(
    field: str, value: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings.model_validate({field: value})
