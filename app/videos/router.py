from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.dependencies import AppSettings, RedisClient
from app.auth.dependencies import ReadKey
from app.auth.exceptions import AUTH_ERRORS, InsufficientScope
from app.core.errors import error_responses
from app.core.urls import HttpUrl
from app.downloads.exceptions import UnsupportedUrl
from app.security.exceptions import ForbiddenAddressError
from app.videos import service
from app.videos.exceptions import LookupTimedOut, VideoLookupFailed
from app.videos.schemas import VideoFormats, VideoInfo

router = APIRouter(prefix="/api/v1", tags=["videos"])
ERRORS = error_responses(
    UnsupportedUrl,
    ForbiddenAddressError,
    VideoLookupFailed,
    LookupTimedOut,
    InsufficientScope,
    *AUTH_ERRORS,
)
UrlQuery = Annotated[HttpUrl, Query(description="A YouTube video URL.")]
InfoUrlQuery = Annotated[HttpUrl, Query(description="A YouTube video, playlist or channel URL.")]


@router.get("/info", response_model=VideoInfo, responses=ERRORS, summary="Video metadata")
async def get_info(
    url: InfoUrlQuery, _key: ReadKey, settings: AppSettings, redis: RedisClient
) -> VideoInfo:
    return await service.info(url, settings=settings, redis_client=redis)


@router.get(
    "/formats",
    response_model=VideoFormats,
    responses=ERRORS,
    summary="Formats and what each quality preset picks",
)
async def get_formats(
    url: UrlQuery, _key: ReadKey, settings: AppSettings, redis: RedisClient
) -> VideoFormats:
    raw = await service.extract_cached(url, settings=settings, redis_client=redis)
    return await service.video_formats(raw)
