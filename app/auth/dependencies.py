from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.auth import service
from app.auth.exceptions import InvalidApiKey, MissingApiKey
from app.auth.models import ApiKey
from app.core.dependencies import AppSettings, DbSession


async def require_key(request: Request, session: DbSession, settings: AppSettings) -> ApiKey:
    secret = request.headers.get(settings.api_key_header)
    if not secret:
        raise MissingApiKey(f"An API key is required in the {settings.api_key_header} header.")
    api_key = await session.run_sync(service.authenticate, secret)
    if api_key is None:
        raise InvalidApiKey()
    return api_key


CurrentKey = Annotated[ApiKey, Depends(require_key, scope="function")]
