"""Look a video up without downloading it: metadata, formats, and what each quality preset
would pick. Extraction runs yt-dlp in a thread; results are cached in Redis for a while."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio
import redis
import yt_dlp
from redis.asyncio import Redis
from yt_dlp.utils import DownloadError, ExtractorError

from app.core.config import Settings
from app.downloads.engine.guard import classify_error, guarded_ydl
from app.downloads.engine.options import (
    YtDlpLogger,
    format_selector,
    format_sort,
    private_cookie_jar,
)
from app.downloads.engine.playlists import expand
from app.downloads.exceptions import JobFailure
from app.downloads.schemas import DateWindow, JobOptions, Quality
from app.downloads.urls import check_submittable, classify
from app.jobs.models import JobKind
from app.security.service import check_address
from app.transcripts.planning import caption_languages
from app.videos.exceptions import LookupTimedOut, VideoLookupFailed
from app.videos.schemas import MediaFormat, PresetChoice, Thumbnail, VideoFormats, VideoInfo
from app.youtube.potoken import with_provider
from app.youtube.routes import Route, choose_async, rest_async

logger = logging.getLogger(__name__)

EXTRACT_TIMEOUT_SECONDS = 60.0
_T = TypeVar("_T")
_QUIET = {"quiet": True, "noprogress": True, "cachedir": False, "noplaylist": True}


def _cache_key(url: str) -> str:
    return "yds:info:" + hashlib.sha256(url.encode()).hexdigest()


def _extract(url: str, settings: Settings, route: Route) -> dict[str, Any]:
    params = with_provider(
        {**_QUIET, "logger": YtDlpLogger(logger), "socket_timeout": 20}, settings
    )
    with tempfile.TemporaryDirectory() as scratch:
        try:
            params["cookiefile"] = private_cookie_jar(settings, Path(scratch))
            with guarded_ydl(params, settings, route) as ydl:
                raw = ydl.extract_info(url, download=False, process=False)
        except JobFailure as failure:
            raise VideoLookupFailed(failure) from failure
        return ydl.sanitize_info(raw)  # type: ignore[no-any-return]


async def extract_cached(url: str, *, settings: Settings, redis_client: Redis) -> dict[str, Any]:
    """The raw (unprocessed) yt-dlp info of a submittable URL, from cache when fresh."""
    check_submittable(url, settings.allowed_domains)
    await check_address(url, settings)
    key = _cache_key(url)
    try:
        cached = await redis_client.get(key)
    except redis.RedisError:
        cached = None  # the cache is an optimisation; look the video up without it
    if cached:
        result: dict[str, Any] = json.loads(cached)
        return result
    raw = await _looked_up(_extract, url, settings=settings, redis_client=redis_client)
    if settings.info_cache_seconds:
        try:
            await redis_client.set(key, json.dumps(raw), ex=settings.info_cache_seconds)
        except redis.RedisError as exc:
            logger.warning("could not cache video info: %s", exc)
    return raw


async def _looked_up(
    lookup: Callable[[str, Settings, Route], _T],
    url: str,
    *,
    settings: Settings,
    redis_client: Redis,
) -> _T:
    """`lookup(url, settings, route)` in a thread, through a route that is not resting;
    a bot check or HTTP 429 rests that route, as a job's would."""
    route = await choose_async(redis_client, settings)
    try:
        with anyio.fail_after(EXTRACT_TIMEOUT_SECONDS):
            return await anyio.to_thread.run_sync(
                lookup, url, settings, route, abandon_on_cancel=True
            )
    except TimeoutError as exc:
        raise LookupTimedOut() from exc
    except VideoLookupFailed as failed:
        if failed.code == "throttled":
            # As for a job: the route rests, and the next look-up takes another.
            cooldown = settings.breaker_cooldown_seconds
            await rest_async(redis_client, route, cooldown_seconds=cooldown, reason=failed.message)
        raise


async def info(url: str, *, settings: Settings, redis_client: Redis) -> VideoInfo:
    """A video's metadata, or a playlist's or channel's title and entry count."""
    target = classify(url, settings.allowed_domains)
    if not target.kind.is_parent:
        return video_info(await extract_cached(url, settings=settings, redis_client=redis_client))
    await check_address(target.url, settings)
    key = "yds:info:list:" + hashlib.sha256(target.url.encode()).hexdigest()
    try:
        cached = await redis_client.get(key)
    except redis.RedisError:
        cached = None
    if cached:
        return VideoInfo.model_validate_json(cached)
    channel = target.kind is JobKind.CHANNEL
    found = await _looked_up(
        partial(_list_info, newest_first=channel),
        target.url,
        settings=settings,
        redis_client=redis_client,
    )
    if settings.info_cache_seconds:
        try:
            await redis_client.set(key, found.model_dump_json(), ex=settings.info_cache_seconds)
        except redis.RedisError as exc:
            logger.warning("could not cache playlist info: %s", exc)
    return found


def _list_info(url: str, settings: Settings, route: Route, *, newest_first: bool) -> VideoInfo:
    """The flat extraction a parent job starts with (one request per page of entries),
    up to MAX_PLAYLIST_ITEMS entries."""
    try:
        expansion = expand(
            url,
            settings=settings,
            playlist_items=None,
            max_items=settings.max_playlist_items,
            window=DateWindow(),
            check_stop=lambda: None,
            newest_first=newest_first,
            route=route,
        )
    except JobFailure as failure:
        raise VideoLookupFailed(failure) from failure
    durations = [entry.duration for entry in expansion.entries]
    known = all(d is not None for d in durations)
    return VideoInfo(
        video_id=expansion.playlist_id or "",
        title=expansion.title,
        duration=sum(d for d in durations if d is not None) if durations and known else None,
        channel_name=expansion.channel,
        channel_id=None,
        upload_date=None,
        webpage_url=url,
        thumbnails=[],
        subtitle_languages=[],
        automatic_caption_languages=[],
        translation_languages=[],
        is_live=False,
        live_status=None,
        is_playlist=True,
        entry_count=len(expansion.entries),
    )


def video_info(raw: dict[str, Any]) -> VideoInfo:
    manual, automatic, translations = caption_languages(raw)
    upload_date = raw.get("upload_date")
    return VideoInfo(
        video_id=str(raw.get("id")),
        title=raw.get("title"),
        duration=raw.get("duration"),
        channel_name=raw.get("channel") or raw.get("uploader"),
        channel_id=raw.get("channel_id"),
        upload_date=f"{upload_date[:4]}-{upload_date[4:6]}-{upload_date[6:]}"
        if upload_date
        else None,
        webpage_url=raw.get("webpage_url"),
        thumbnails=[
            Thumbnail(url=t["url"], width=t.get("width"), height=t.get("height"))
            for t in raw.get("thumbnails") or []
            if t.get("url")
        ],
        subtitle_languages=manual,
        automatic_caption_languages=automatic,
        translation_languages=translations,
        is_live=bool(raw.get("is_live")),
        live_status=raw.get("live_status"),
        is_playlist=raw.get("_type") in ("playlist", "multi_video"),
    )


def _preset_choice(raw: dict[str, Any], quality: Quality) -> PresetChoice:
    """Run yt-dlp's own selection with the options a job of this quality would use."""
    options = JobOptions(quality=quality)
    params = {
        **_QUIET,
        "logger": YtDlpLogger(logger),
        "format": format_selector(options),
        "format_sort": format_sort(options),
        "simulate": True,
    }
    with yt_dlp.YoutubeDL(params) as ydl:
        processed = ydl.process_ie_result(copy.deepcopy(raw), download=False)
    selected = processed.get("requested_formats") or [processed]
    return PresetChoice(
        format_ids=[str(f.get("format_id")) for f in selected],
        height=processed.get("height"),
        resolution=processed.get("resolution"),
    )


def _formats_of(raw: dict[str, Any]) -> VideoFormats:
    formats = [
        MediaFormat(
            format_id=str(f.get("format_id")),
            ext=f.get("ext"),
            resolution=f.get("resolution")
            or (f"{f['width']}x{f['height']}" if f.get("width") and f.get("height") else None)
            or ("audio only" if f.get("vcodec") == "none" else None),
            width=f.get("width"),
            height=f.get("height"),
            fps=f.get("fps"),
            vcodec=f.get("vcodec"),
            acodec=f.get("acodec"),
            filesize=f.get("filesize") or f.get("filesize_approx"),
            tbr=f.get("tbr"),
            note=f.get("format_note"),
        )
        for f in raw.get("formats") or []
    ]
    try:
        presets = {quality.value: _preset_choice(raw, quality) for quality in Quality}
    except (DownloadError, ExtractorError) as exc:
        raise VideoLookupFailed(classify_error(exc)) from exc
    return VideoFormats(
        video_id=str(raw.get("id")), title=raw.get("title"), formats=formats, presets=presets
    )


async def video_formats(raw: dict[str, Any]) -> VideoFormats:
    return await anyio.to_thread.run_sync(_formats_of, raw)
