"""One JSON object a line on AWS, ids bound, secrets redacted."""

from __future__ import annotations

import json
import logging

from app.core.logging import (
    JsonFormatter,
    QuietRoutineTasks,
    RedactSecrets,
    TextFormatter,
    _ContextFilter,
    bound_job,
    request_id_var,
)


def render(formatter: logging.Formatter, message: str, *args: object) -> str:
    record = logging.LogRecord("app.test", logging.INFO, __file__, 1, message, args, None)
    for log_filter in (_ContextFilter(), RedactSecrets()):
        log_filter.filter(record)
    return formatter.format(record)


def test_json_lines_carry_request_and_job_ids() -> None:
    token = request_id_var.set("req-1")
    try:
        with bound_job("job-9"):
            line = render(JsonFormatter(), "stored %d files", 3)
    finally:
        request_id_var.reset(token)
    entry = json.loads(line)
    assert entry["message"] == "stored 3 files"
    assert entry["request_id"] == "req-1" and entry["job_id"] == "job-9"
    assert entry["level"] == "INFO" and entry["time"].endswith("+00:00")


def test_text_lines_for_humans() -> None:
    with bound_job("job-9"):
        line = render(TextFormatter("%(levelname)s %(message)s"), "hello")
    assert line == "INFO hello [job_id=job-9]"


def test_keys_and_presigned_signatures_are_redacted() -> None:
    line = render(
        JsonFormatter(),
        "%s then %s",
        '127.0.0.1 - "WebSocket /ws/progress/x?api_key=yds_abcdefghijklmnopqrstuvwxyz0123"',
        "https://bucket.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F&X-Amz-Signature=deadbeef",
    )
    assert "abcdefghijklmnopqrstuvwxyz0123" not in line and "deadbeef" not in line
    assert "AKIA" not in line
    assert "api_key=[redacted]" in line and "X-Amz-Signature=[redacted]" in line


# Lines a worker with the embedded beat printed every 30 s, as `make run` showed them.
ROUTINE = [
    ("celery.beat", "Scheduler: Sending due task reconcile-jobs (maintenance.reconcile)"),
    ("celery.worker.strategy", "Task maintenance.reconcile[cdc845d9] received"),
    ("celery.app.trace", "Task maintenance.reconcile[cdc845d9] succeeded in 0.04s: None"),
]
JOB_LINES = [
    ("celery.app.trace", "Task downloads.run[5c094adf] succeeded in 1.35s: None"),
    ("app.downloads.endings", "job 5c094adf ended completed"),
]


def shown(level: int, lines: list[tuple[str, str]], severity: int = logging.INFO) -> list[str]:
    """What a handler with the filter writes for `lines`, with the root logger at `level`."""
    root = logging.getLogger()
    before = root.level
    root.setLevel(level)
    try:
        records = [
            logging.LogRecord(name, severity, __file__, 1, message, None, None)
            for name, message in lines
        ]
        return [
            f"{record.levelname} {record.getMessage()}"
            for record in records
            if QuietRoutineTasks().filter(record)
        ]
    finally:
        root.setLevel(before)


def test_the_beats_routine_tasks_stay_out_of_the_terminal_at_info() -> None:
    assert shown(logging.INFO, ROUTINE + JOB_LINES) == [
        f"INFO {message}" for _, message in JOB_LINES
    ]


def test_they_show_at_debug_and_their_failures_always() -> None:
    assert shown(logging.DEBUG, ROUTINE) == [f"DEBUG {message}" for _, message in ROUTINE]
    failed = [("celery.app.trace", "Task maintenance.reconcile[cdc845d9] raised: OSError()")]
    assert shown(logging.INFO, failed, logging.ERROR) == [f"ERROR {failed[0][1]}"]
