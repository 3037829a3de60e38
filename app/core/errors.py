"""Domain errors with a stable code, rendered as {"error": {"code", "message"}} by the API's
handlers (`app.core.error_handlers`). Nothing here imports the web framework: workers raise
and catch these errors too, and must not load FastAPI to do so."""

from __future__ import annotations

import traceback
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout


class AppError(Exception):
    """Base of every expected failure; subclasses fix `status_code` and `code`."""

    status_code: int = 400
    code: str = "bad_request"
    message: str = "The request could not be processed."

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None):
        self.message = message or self.message
        self.headers = headers
        super().__init__(self.message)


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


def error_responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the errors a route can raise."""
    responses: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        entry = responses.setdefault(error.status_code, {"model": ErrorResponse, "description": ""})
        entry["description"] = ", ".join(filter(None, [entry["description"], error.code]))
    return responses


DATABASE_RETRY_AFTER_SECONDS = 5
_DRIVER_MODULES = ("asyncpg", "aiosqlite", "psycopg", "sqlalchemy")


def is_database_outage(exc: BaseException) -> bool:
    """Connection trouble with the database (not a bug in a query)."""
    if isinstance(exc, (IntegrityError, ProgrammingError, DataError)):
        return False
    if isinstance(exc, (DBAPIError, PoolTimeout)):
        return True
    if isinstance(exc, OSError):
        # A refused or dropped connection surfaces as a plain OSError from the driver.
        frames = traceback.extract_tb(exc.__traceback__)
        return any(part in frame.filename for frame in frames for part in _DRIVER_MODULES)
    return False
