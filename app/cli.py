"""Command line (`python -m app.cli`, or `yds`): the API client, and key administration."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import anyio
import typer
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from app.auth import keys
from app.auth import service as auth_service
from app.auth.exceptions import ApiKeyNotFound
from app.auth.models import ApiKey as ApiKeyRow
from app.auth.models import Scope
from app.client import commands, doctor, recovery, subscriptions
from app.client.api import DEFAULT_API_URL, ApiClient
from app.client.commands import ApiKey, ApiUrl, Json
from app.client.output import emit, expected_errors
from app.core.config import get_settings
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.core.errors import AppError
from app.core.urls import HttpUrl
from app.security.service import check_address

cli = typer.Typer(
    help="YouTube download service: download, follow and search through its API; manage keys.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
api_keys = typer.Typer(
    help="Create, list and revoke API keys: through the API with an admin key "
    "(--api-key / YDS_API_KEY), otherwise directly in the service's database.",
    no_args_is_help=True,
)


@cli.callback(invoke_without_command=True)
def connection(
    ctx: typer.Context,
    api_url: Annotated[
        str | None, typer.Option("--api-url", help="The service's base URL, for every command.")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", help="Your API key, for every command.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON from every command.")] = False,
    version: Annotated[
        bool, typer.Option("--version", help="The client's, the service's and yt-dlp's versions.")
    ] = False,
) -> None:
    """Options before the command (`yds --api-key K jobs list`) stand in for YDS_API_URL,
    YDS_API_KEY and YDS_JSON; the command's own options still win."""
    for name, value in (("YDS_API_URL", api_url), ("YDS_API_KEY", api_key)):
        if value:
            os.environ[name] = value
    if as_json:
        os.environ["YDS_JSON"] = "1"
    if version:
        commands.show_version(
            os.environ.get("YDS_API_URL") or DEFAULT_API_URL,
            os.environ.get("YDS_API_KEY"),
            as_json=as_json or bool(os.environ.get("YDS_JSON")),
        )
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(2)


cli.add_typer(api_keys, name="api-keys")
cli.command("download")(commands.download)
cli.command("info")(commands.info)
cli.command("formats")(commands.formats)
cli.command("transcript")(commands.transcript)
cli.command("stats")(commands.stats)
cli.command("doctor")(doctor.doctor)
cli.add_typer(commands.jobs_app, name="jobs")
cli.add_typer(commands.library_app, name="library")
cli.add_typer(commands.cookies_app, name="cookies")
cli.add_typer(subscriptions.subscriptions_app, name="subscriptions")
cli.add_typer(recovery.recovery_app, name="recovery")


@contextmanager
def _session() -> Iterator[Session]:
    engine = create_sync_engine(get_settings().database_url)
    try:
        with session_scope(sync_sessionmaker(engine)) as session:
            yield session
    finally:
        engine.dispose()


@api_keys.command("create")
def create_key(
    name: Annotated[str, typer.Option("--name", help="Who or what the key is for.")],
    scope: Annotated[
        list[Scope] | None, typer.Option("--scope", help="Repeat for several; default read+write.")
    ] = None,
    expires_in_days: Annotated[int | None, typer.Option(min=1, help="Expire after N days.")] = None,
    rate_limit_per_minute: Annotated[int | None, typer.Option(min=1)] = None,
    max_active_jobs: Annotated[int | None, typer.Option(min=1)] = None,
    max_jobs_per_day: Annotated[int | None, typer.Option(min=1)] = None,
    webhook_url: Annotated[
        str | None, typer.Option(help="Default webhook for the key's jobs (http or https URL).")
    ] = None,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Create a key and print it once; only an HMAC of it is stored."""
    if api_key:
        body = {
            "name": name,
            "scopes": [s.value for s in scope] if scope else None,
            "expires_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_in_days))
            if expires_in_days else None,
            "rate_limit_per_minute": rate_limit_per_minute,
            "max_active_jobs": max_active_jobs,
            "max_jobs_per_day": max_jobs_per_day,
            "webhook_url": webhook_url,
        }  # fmt: skip
        with expected_errors(as_json), ApiClient(api_url, api_key) as api:
            created = api.create_key({k: v for k, v in body.items() if v is not None})
        emit(created, as_json, lambda: typer.echo(created["key"]))
        return
    if webhook_url is not None:
        webhook_url = _checked_webhook_url(webhook_url)
    expires_at = (
        dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_in_days) if expires_in_days else None
    )
    with _session() as session:
        issued = auth_service.issue_key(
            session,
            name=name,
            server_secret=keys.load_server_secret(get_settings()),
            scopes=[s.value for s in scope] if scope else None,
            expires_at=expires_at,
            limits=auth_service.KeyLimits(rate_limit_per_minute, max_active_jobs, max_jobs_per_day),
            webhook_url=webhook_url,
        )
    if as_json:
        typer.echo(json.dumps({**_key_row(issued.api_key), "key": issued.secret}, indent=2))
        return
    typer.echo(issued.secret)
    typer.echo(
        f"Created key {issued.api_key.id} ({issued.api_key.key_prefix}…) named {name!r} "
        f"with scopes {', '.join(issued.api_key.scopes)}; it is shown only once.",
        err=True,
    )


def _checked_webhook_url(url: str) -> str:
    """The URL as the API would accept it, or exit with the reason (same rules as the API)."""
    try:
        checked = TypeAdapter(HttpUrl).validate_python(url)
        anyio.run(check_address, checked, get_settings())
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise typer.BadParameter(reason, param_hint="--webhook-url") from None
    except AppError as exc:
        raise typer.BadParameter(exc.message, param_hint="--webhook-url") from None
    return checked


def _key_row(key: ApiKeyRow) -> dict[str, Any]:
    return {
        "id": str(key.id),
        "name": key.name,
        "prefix": key.key_prefix,
        "scopes": key.scopes,
        "created_at": key.created_at.isoformat(),
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
        "usage_count": key.usage_count,
        "webhook_url": key.webhook_url,
    }


@api_keys.command("list")
def list_keys(
    api_url: ApiUrl = DEFAULT_API_URL, api_key: ApiKey = None, as_json: Json = False
) -> None:
    """List keys (never their secrets)."""
    if api_key:
        with expected_errors(as_json), ApiClient(api_url, api_key) as api:
            listed = api.list_keys()
        rows = [{**row, "id": row["id"], "prefix": row["key_prefix"]} for row in listed]
    else:
        with _session() as session:
            rows = [_key_row(key) for key in auth_service.list_keys(session)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = "revoked" if row["revoked_at"] else "active"
        typer.echo(
            f"{row['id']}  {row['prefix']}…  {state:7}  {row['name']}  {','.join(row['scopes'])}"
        )


@api_keys.command("revoke")
def revoke_key(
    key_id: uuid.UUID,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Revoke a key at once."""
    if api_key:
        with expected_errors(as_json), ApiClient(api_url, api_key) as api:
            api.revoke_key(str(key_id))
        emit({"revoked": str(key_id)}, as_json, lambda: typer.echo(f"Revoked {key_id}.", err=True))
        return
    try:
        with _session() as session:
            auth_service.revoke_key(session, key_id)
    except ApiKeyNotFound:
        emit({"error": {"code": "api_key_not_found", "message": f"No API key {key_id}."}},
             as_json, lambda: typer.echo(f"No API key {key_id}.", err=True))  # fmt: skip
        raise typer.Exit(code=2) from None
    emit({"revoked": str(key_id)}, as_json, lambda: typer.echo(f"Revoked {key_id}.", err=True))


@api_keys.command("generate")
def generate_key(as_json: Json = False) -> None:
    """Print a new random key without storing it (for BOOTSTRAP_ADMIN_API_KEY)."""
    key = keys.generate()
    emit({"key": key}, as_json, lambda: typer.echo(key))


@cli.command("create-api-key", hidden=True)
def create_api_key(name: Annotated[str, typer.Option("--name")]) -> None:
    """Kept for older scripts: same as `api-keys create --name NAME`."""
    create_key(name=name, api_key=None)


def main() -> None:
    """The `yds` entry point."""
    cli()


if __name__ == "__main__":
    main()
