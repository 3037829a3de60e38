"""Command line: `python -m app.cli --help`."""

from __future__ import annotations

import typer

from app.auth import service as auth_service
from app.core.config import get_settings
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker

cli = typer.Typer(help="YouTube download service administration.", no_args_is_help=True)


@cli.callback()
def main() -> None:
    """Keeps sub-commands explicit (`create-api-key`, ...) as more are added."""


@cli.command("create-api-key")
def create_api_key(
    name: str = typer.Option(..., "--name", help="Who or what the key is for."),
    admin: bool = typer.Option(False, "--admin", help="Also grant the admin scope."),
) -> None:
    """Create an API key and print it once; only its hash is stored."""
    engine = create_sync_engine(get_settings().database_url)
    scopes = auth_service.ADMIN_SCOPES if admin else auth_service.DEFAULT_SCOPES
    try:
        with session_scope(sync_sessionmaker(engine)) as session:
            issued = auth_service.issue_key(session, name=name, scopes=scopes)
    finally:
        engine.dispose()
    typer.echo(issued.secret)
    typer.echo(
        f"Created key {issued.api_key.key_prefix}… named {name!r}; it is shown only once.", err=True
    )


if __name__ == "__main__":
    cli()
