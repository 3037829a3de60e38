"""The API's error handlers: every error answers {"error": {"code", "message"}}, and the
OpenAPI document says so. Only the API imports this module (app.main)."""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.routing import Match

from app.core.errors import DATABASE_RETRY_AFTER_SECONDS, AppError, is_database_outage
from app.core.urls import AmbiguousUrl

logger = logging.getLogger(__name__)

# What a WebSocket gets where a request would get an error body: a close frame.
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_INTERNAL_ERROR = 1011
DATABASE_CLOSE_REASON = f"database unavailable; reconnect in {DATABASE_RETRY_AFTER_SECONDS} s"

_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def document_error_bodies(schema: dict[str, Any]) -> None:
    """Make the OpenAPI document tell the truth about 4xx bodies: FastAPI documents every
    422 as its own `{"detail": [...]}`, which this API never sends (the validation handler
    below answers `validation_error` in the ErrorResponse shape). Operations that take a body
    may also get 413 from the body limit."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                responses.setdefault("413", _error_response("payload_too_large"))
            for status, response in list(responses.items()):
                if not status.startswith("4"):
                    continue
                content = response.get("content", {}).get("application/json", {})
                if "HTTPValidationError" in str(content.get("schema")):
                    responses[status] = _error_response("validation_error")
                elif status == "422" and "validation_error" not in response.get("description", ""):
                    response["description"] = ", ".join(
                        filter(None, [response.get("description"), "validation_error"])
                    )
    components = schema.get("components", {}).get("schemas", {})
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        components.pop(name, None)


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def error_json(status_code: int, code: str, message: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, **extra}
    return JSONResponse({"error": body}, status_code=status_code)


def _describe_validation(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors[:5]:
        location = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{location}: {err.get('msg', 'invalid')}" if location else err.get("msg", ""))
    return "; ".join(parts) or "Invalid request."


def _ambiguous_url(errors: list[dict[str, Any]]) -> str | None:
    """The description of a URL refused as ambiguous, if that is among the errors."""
    for err in errors:
        if isinstance(err.get("ctx", {}).get("error"), AmbiguousUrl):
            location = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query"))
            return f"{location}: {err['ctx']['error']}" if location else str(err["ctx"]["error"])
    return None


async def _end_socket(websocket: WebSocket, code: int, reason: str) -> None:
    with suppress(RuntimeError, OSError):  # closed already, or the client left
        await websocket.close(code=code, reason=reason)


def _log_outage(exc: BaseException) -> None:
    """One log line: the driver's message can span lines (SQL, a help link)."""
    first_line = next(iter(str(exc).strip().splitlines()), "")
    logger.warning("database unavailable: %s: %s", type(exc).__name__, first_line)


def _outage_response(exc: BaseException) -> JSONResponse:
    _log_outage(exc)
    response = error_json(
        503, "database_unavailable", "The database is unavailable; retry shortly."
    )
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _is_unparsable_body(exc: StarletteHTTPException) -> bool:
    """FastAPI answers a JSON body its parser gave up on with a bare 400 raised from the
    parser's error: RecursionError (nested too deeply) or a ValueError (not UTF-8)."""
    return exc.status_code == 400 and isinstance(exc.__cause__, (ValueError, RecursionError))


def _unparsable_body() -> JSONResponse:
    details = [
        {"loc": ["body"], "msg": "The body is not JSON this API can read.", "type": "json_invalid"}
    ]
    message = "body: not valid JSON (malformed, not UTF-8, or nested too deeply)"
    return error_json(422, "validation_error", message, details=details)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method some route takes at this path: Starlette's own `Allow` names only those
    of the first route matching the path, and GET and POST are often separate routes."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        response = error_json(exc.status_code, exc.code, exc.message)
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        ambiguous = _ambiguous_url(list(exc.errors()))
        if ambiguous is not None:
            # Not a typo to fix but a URL the service will not guess the meaning of.
            return error_json(400, "unsupported_url", f"Unsupported URL: {ambiguous}.")
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return error_json(422, "validation_error", _describe_validation(details), details=details)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if _is_unparsable_body(exc):
            return _unparsable_body()
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        response = error_json(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            response.headers["Allow"] = _allowed_methods(request)
        return response

    # Registered by class, so the response is final: an `Exception` handler runs in
    # Starlette's outermost middleware, which re-raises after answering and makes uvicorn
    # log a traceback for every request refused during an outage.
    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(OSError)
    async def _database_error(request: HTTPConnection, exc: Exception) -> JSONResponse | None:
        if not is_database_outage(exc):
            raise exc
        if isinstance(request, WebSocket):
            _log_outage(exc)
            await _end_socket(request, CLOSE_TRY_AGAIN_LATER, DATABASE_CLOSE_REASON)
            return None
        return _outage_response(exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: HTTPConnection, exc: Exception) -> JSONResponse | None:
        if is_database_outage(exc):
            return await _database_error(request, exc)
        if isinstance(request, WebSocket):
            logger.error("unhandled error in a WebSocket", exc_info=exc)
            await _end_socket(request, CLOSE_INTERNAL_ERROR, "internal error")
            return None
        assert isinstance(request, Request)
        request_id = getattr(request.state, "request_id", None)
        logger.exception("unhandled error", extra={"request_id": request_id})
        return error_json(500, "internal_error", "Internal server error.", request_id=request_id)
