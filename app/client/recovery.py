"""`yds recovery`: your failed and canceled jobs by error code, with what to do about each
(list), and retrying them by code or all at once (retry), through
/api/v1/downloads/failures and /api/v1/downloads/retry."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from app.client.api import DEFAULT_API_URL, ApiClient
from app.client.commands import ApiKey, ApiUrl, Json, request_body
from app.client.output import emit, expected_errors, print_retry_outcome, stdout, usage_error

recovery_app = typer.Typer(
    help="Your failed and canceled jobs by error code, and retrying them in bulk.",
    no_args_is_help=True,
)

Parent = Annotated[
    str | None,
    typer.Option(
        "--parent",
        metavar="JOB",
        help="A playlist's, channel's or batch's entries instead of your own submissions.",
    ),
]


@recovery_app.command("list")
def list_failures(
    parent: Parent = None,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Failed and canceled jobs grouped by error code: how many, the newest, and a hint."""
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        found = api.failures(parent_id=parent)
    emit(found, as_json, lambda: _print_groups(found))


@recovery_app.command("retry")
def retry(
    retry_all: Annotated[
        bool, typer.Option("--all", help="Every failed and canceled job (up to --limit).")
    ] = False,
    codes: Annotated[
        list[str] | None,
        typer.Option("--code", metavar="CODE", help="Only jobs with this error code (repeatable)."),
    ] = None,
    status: Annotated[
        str | None, typer.Option(help="Only failed or only canceled jobs (default both).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(metavar="TIME", help='Only jobs created since, e.g. "2026-12-01T08:00Z".'),
    ] = None,
    parent: Parent = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most N jobs this call (the service caps it).")
    ] = None,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Retry failed and canceled jobs: those with --code CODE, or --all of them."""
    if not retry_all and not codes:
        usage_error(
            "Say which jobs to retry: --code CODE (see `yds recovery list`), or --all for "
            "every failed and canceled job.",
            as_json,
        )
    if retry_all and codes:
        usage_error("--all and --code exclude each other: give one of them.", as_json)
    body = request_body(
        error_codes=codes or None,
        status=[status] if status else None,
        created_since=since,
        parent_id=parent,
        limit=limit,
    )
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        outcome = api.retry_failures(body)
    emit(outcome, as_json, lambda: print_retry_outcome(outcome))


def _print_groups(found: dict[str, Any]) -> None:
    groups = found["groups"]
    if not groups:
        stdout.print("No failed or canceled jobs: nothing to recover.")
        return
    table = Table("code", "jobs", "newest", "what to do")
    for group in groups:
        sample = group["sample"]
        newest = f"{sample['at']}  {sample['job_id']}\n{sample['title'] or sample['url']}"
        if sample["message"]:
            newest += f"\n{sample['message']}"
        table.add_row(
            escape(group["code"]), str(group["count"]), escape(newest), escape(group["hint"] or "-")
        )
    stdout.print(table)
    stdout.print(f"{found['total']} in all. Retry with: yds recovery retry --code CODE (or --all)")
