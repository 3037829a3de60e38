"""How the command-line client prints: results on stdout (JSON with --json), progress and
messages on stderr, and one clear line for an expected error."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from app.client.api import ClientError, ExitCode

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def emit(data: Any, as_json: bool, human: Callable[[], None]) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
    else:
        human()


def fail(error: ClientError, as_json: bool) -> NoReturn:
    if as_json:
        typer.echo(json.dumps(error.as_json()))
    else:
        stderr.print(f"[red]error:[/red] {escape(error.message)} [dim]({escape(error.code)})[/dim]")
    raise typer.Exit(int(error.exit_code))


@contextmanager
def expected_errors(as_json: bool) -> Iterator[None]:
    """Turn a `ClientError` into its message and exit code, never a traceback."""
    try:
        yield
    except ClientError as error:
        fail(error, as_json)


def usage_error(message: str, as_json: bool) -> NoReturn:
    fail(ClientError("usage_error", message, ExitCode.USAGE), as_json)


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    minutes, secs = divmod(int(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def size(value: float | None) -> str:
    if not value:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def print_retry_outcome(outcome: dict[str, Any]) -> None:
    """What a bulk retry (POST /api/v1/downloads/retry) did."""
    stdout.print(f"Retried {outcome['retried']} of {outcome['matched']} matching jobs.")
    for skipped in outcome["skipped"]:
        error = skipped["error"]
        stdout.print(
            f"  not retried  {skipped['job_id']}  {escape(error['message'])} "
            f"[dim]({escape(error['code'])})[/dim]"
        )
    if outcome["more"]:
        stdout.print(
            f"More jobs match than one call takes ({outcome['limit']}): run it again for the rest."
        )
