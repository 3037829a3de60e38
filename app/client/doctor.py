"""`yds doctor`: the service's YouTube checks, each with what to change."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from app.client.api import DEFAULT_API_URL, ApiClient, ExitCode
from app.client.commands import ApiKey, ApiUrl, Json
from app.client.output import emit, expected_errors, stdout

_MARKS = {
    "ok": "[green]ok  [/green]",
    "off": "[dim]off [/dim]",
    "warn": "[yellow]warn[/yellow]",
    "fail": "[red]FAIL[/red]",
}


def doctor(
    api_url: ApiUrl = DEFAULT_API_URL, api_key: ApiKey = None, as_json: Json = False
) -> None:
    """What could break YouTube downloads on the service, and how to fix it (admin key).
    Exits with 7 when a check fails."""
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        report = api.doctor()
    emit(report, as_json, lambda: _print(report))
    if report["status"] == "fail":
        raise typer.Exit(int(ExitCode.UNHEALTHY))


def _print(report: dict[str, Any]) -> None:
    for check in report["checks"]:
        stdout.print(
            f"{_MARKS.get(check['status'], check['status'])}  "
            f"[bold]{escape(check['name'])}[/bold]  {escape(check['detail'])}"
        )
        if check["fix"] and check["status"] != "ok":
            stdout.print(f"      [dim]fix:[/dim] {escape(check['fix'])}")
    failures = report["recent_failures"]
    window = report["recent_failures_window"]
    if failures:
        stdout.print(f"\nThe last {window} YouTube failures by error code:")
        for group in failures:
            stdout.print(
                f"  {group['count']:3}  [bold]{escape(group['code'])}[/bold]  "
                f"last {escape(group['last_at'])}: {escape(group['last_message'] or '')}"
            )
            if group["hint"]:
                stdout.print(f"       [dim]{escape(group['hint'])}[/dim]")
    else:
        stdout.print(f"\nNo YouTube failures among the latest jobs (window {window}).")
    stdout.print(f"\nOverall: {_MARKS.get(report['status'], report['status'])}")
