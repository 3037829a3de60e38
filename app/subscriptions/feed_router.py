"""Podcast feeds: the public feed and file routes (no API key: the feed token, or a link's
signature, is the credential) and the key-authenticated routes that enable, rotate and
revoke a subscription's feed."""

from __future__ import annotations

import hashlib
import uuid

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.api.dependencies import DbSession, State, Storage
from app.api.state import AppState
from app.auth.exceptions import AUTH_ERRORS as KEY_ERRORS
from app.auth.exceptions import InsufficientScope
from app.core.database import utcnow
from app.core.errors import error_responses
from app.downloads import files
from app.downloads.exceptions import FileCorrupt, FileNotFound, InvalidRange, RangeNotSatisfiable
from app.downloads.presenter import download_filename, media_type
from app.jobs.models import JobFile
from app.subscriptions import feeds, links
from app.subscriptions.dependencies import WritableSubscription
from app.subscriptions.exceptions import (
    FeedNotFound,
    InvalidLink,
    LinkExpired,
    SubscriptionNotFound,
)
from app.subscriptions.schemas import FeedCreated, FeedRequest

router = APIRouter(tags=["feeds"])
FEEDS = "/feeds"
SUBSCRIPTIONS = "/api/v1/subscriptions"
AUTH_ERRORS = (*KEY_ERRORS, InsufficientScope)
FILE_ERRORS = (
    InvalidLink,
    LinkExpired,
    FileNotFound,
    FileCorrupt,
    InvalidRange,
    RangeNotSatisfiable,
)


def _linker(request: Request, state: AppState) -> feeds.FileLinker:
    """Absolute signed links, all expiring FEED_LINK_TTL_SECONDS from now; the base URL is
    the request's (behind a proxy, as uvicorn's proxy headers made it)."""
    key = links.link_key(state.key_secret)
    ttl = state.settings.feed_link_ttl_seconds
    now = utcnow()

    def link(stored: JobFile) -> str:
        signed = links.sign(key, stored.id, ttl_seconds=ttl, now=now)
        url = request.url_for("get_feed_file", file_id=str(stored.id))
        return str(url.include_query_params(expires=signed.expires, sig=signed.sig))

    return link


@router.post(
    f"{SUBSCRIPTIONS}/{{subscription_id}}/feed",
    status_code=201,
    response_model=FeedCreated,
    responses=error_responses(SubscriptionNotFound, *AUTH_ERRORS),
    summary="Publish the subscription's podcast feed under a new URL (the old one stops working)",
)
async def enable_feed(
    subscription: WritableSubscription, body: FeedRequest, request: Request
) -> FeedCreated:
    token = feeds.enable(subscription, media=body.media)
    return FeedCreated(url=str(request.url_for("get_feed", token=token)), media=body.media)


@router.delete(
    f"{SUBSCRIPTIONS}/{{subscription_id}}/feed",
    status_code=204,
    responses=error_responses(SubscriptionNotFound, *AUTH_ERRORS),
    summary="Revoke the subscription's podcast feed (its URL then answers 404)",
)
async def revoke_feed(subscription: WritableSubscription) -> Response:
    feeds.revoke(subscription)
    return Response(status_code=204)


@router.get(
    f"{FEEDS}/{{token}}.xml",
    name="get_feed",
    response_class=Response,
    responses={
        200: {"content": {"application/rss+xml": {}}, "description": "RSS 2.0 with iTunes tags"},
        **error_responses(FeedNotFound),
    },
    summary="A subscription's podcast feed (no API key: the URL is the credential)",
)
async def get_feed(token: str, request: Request, session: DbSession, state: State) -> Response:
    subscription = await feeds.find(session, token)
    jobs = await feeds.downloaded_jobs(session, subscription)
    body = feeds.document(
        subscription,
        jobs,
        link=_linker(request, state),
        self_url=str(request.url.replace(query="")),
    )
    # Not kept by shared caches (its URL is a secret, its links expire); podcast apps poll
    # with If-None-Match, answered 304 while the document is unchanged.
    headers = {
        "cache-control": "private, no-cache",
        "etag": f'"{hashlib.sha256(body).hexdigest()[:32]}"',
    }
    if request.headers.get("if-none-match") == headers["etag"]:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=feeds.FEED_MEDIA_TYPE, headers=headers)


router.add_api_route(f"{FEEDS}/{{token}}.xml", get_feed, methods=["HEAD"], include_in_schema=False)


@router.get(
    f"{FEEDS}/files/{{file_id}}",
    name="get_feed_file",
    response_class=FileResponse,
    responses=error_responses(*FILE_ERRORS),
    summary="Stream a file linked from a podcast feed (a signed, expiring link; no API key)",
)
async def get_feed_file(
    file_id: uuid.UUID,
    request: Request,
    session: DbSession,
    state: State,
    storage: Storage,
    expires: str = "",
    sig: str = "",
) -> Response:
    if not expires.isdigit() or len(expires) > 12:
        raise InvalidLink()
    key = links.link_key(state.key_secret)
    links.verify(key, links.SignedLink(file_id, int(expires), sig), now=utcnow())
    stored = await session.scalar(
        select(JobFile).where(JobFile.id == file_id).options(selectinload(JobFile.job))
    )
    if stored is None:
        raise FileNotFound("The file was deleted (its retention ended, or its job was deleted).")
    return await files.file_response(
        request,
        state,
        storage,
        stored,
        filename=download_filename(stored.job, stored),
        media_type=media_type(stored),
    )


router.add_api_route(
    f"{FEEDS}/files/{{file_id}}", get_feed_file, methods=["HEAD"], include_in_schema=False
)
