"""Command line: `python -m app.cli --help`."""

from __future__ import annotations

import datetime as dt
import json
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
from app.auth.models import Scope
from app.core.config import get_settings
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.core.errors import AppError
from app.downloads.schemas import HttpUrl
from app.webhooks.service import check_webhook_url

cli = typer.Typer(help="YouTube download service administration.", no_args_is_help=True)
api_keys = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
cli.add_typer(api_keys, name="api-keys")


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
) -> None:
    """Create a key and print it once; only an HMAC of it is stored."""
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
        anyio.run(check_webhook_url, checked, get_settings())
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise typer.BadParameter(reason, param_hint="--webhook-url") from None
    except AppError as exc:
        raise typer.BadParameter(exc.message, param_hint="--webhook-url") from None
    return checked


@api_keys.command("list")
def list_keys(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List keys (never their secrets)."""
    with _session() as session:
        rows: list[dict[str, Any]] = [
            {
                "id": str(k.id),
                "name": k.name,
                "prefix": k.key_prefix,
                "scopes": k.scopes,
                "created_at": k.created_at.isoformat(),
                "expires_at": k.expires_at.isoformat() if k.expires_at else None,
                "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
                "usage_count": k.usage_count,
                "webhook_url": k.webhook_url,
            }
            for k in auth_service.list_keys(session)
        ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = "revoked" if row["revoked_at"] else "active"
        typer.echo(
            f"{row['id']}  {row['prefix']}…  {state:7}  {row['name']}  {','.join(row['scopes'])}"
        )


@api_keys.command("revoke")
def revoke_key(key_id: uuid.UUID) -> None:
    """Revoke a key at once."""
    try:
        with _session() as session:
            auth_service.revoke_key(session, key_id)
    except ApiKeyNotFound:
        typer.echo(f"No API key {key_id}.", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"Revoked {key_id}.", err=True)


@api_keys.command("generate")
def generate_key() -> None:
    """Print a new random key without storing it (for BOOTSTRAP_ADMIN_API_KEY)."""
    typer.echo(keys.generate())


@cli.command("create-api-key", hidden=True)
def create_api_key(name: Annotated[str, typer.Option("--name")]) -> None:
    """Kept for older scripts: same as `api-keys create --name NAME`."""
    create_key(name=name)


if __name__ == "__main__":
    cli()
