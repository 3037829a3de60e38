"""Podcast feeds: the public feed and file routes (no API key: the feed token, or a link's
signature, is the credential) and the key-authenticated routes that enable, rotate and
revoke a subscription's feed."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.api.dependencies import DbSession, State, Storage
from app.api.state import AppState
from app.auth.dependencies import WriteKey
from app.auth.exceptions import AUTH_ERRORS as KEY_ERRORS
from app.auth.exceptions import InsufficientScope
from app.auth.models import ApiKey
from app.core.database import utcnow
from app.core.errors import error_responses
from app.downloads import files
from app.downloads.exceptions import FileCorrupt, FileNotFound, InvalidRange, RangeNotSatisfiable
from app.downloads.presenter import download_filename, media_type
from app.jobs.models import JobFile
from app.subscriptions import feeds, links
from app.subscriptions.exceptions import (
    FeedNotFound,
    InvalidLink,
    LinkExpired,
    SubscriptionNotFound,
)
from app.subscriptions.models import Subscription
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


async def _owned(
    session: AsyncSession, subscription_id: uuid.UUID, api_key: ApiKey
) -> Subscription:
    """Another key's subscription is as missing as one that never existed."""
    subscription = await session.scalar(
        select(Subscription).where(
            Subscription.id == subscription_id, Subscription.api_key_id == api_key.id
        )
    )
    if subscription is None:
        raise SubscriptionNotFound()
    return subscription


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
    subscription_id: uuid.UUID,
    body: FeedRequest,
    request: Request,
    session: DbSession,
    api_key: WriteKey,
) -> FeedCreated:
    subscription = await _owned(session, subscription_id, api_key)
    token = feeds.enable(subscription, media=body.media)
    return FeedCreated(url=str(request.url_for("get_feed", token=token)), media=body.media)


@router.delete(
    f"{SUBSCRIPTIONS}/{{subscription_id}}/feed",
    status_code=204,
    responses=error_responses(SubscriptionNotFound, *AUTH_ERRORS),
    summary="Revoke the subscription's podcast feed (its URL then answers 404)",
)
async def revoke_feed(
    subscription_id: uuid.UUID, session: DbSession, api_key: WriteKey
) -> Response:
    feeds.revoke(await _owned(session, subscription_id, api_key))
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
        now=utcnow(),
    )
    # Never cached by a proxy: its links expire, and the URL itself is a secret.
    headers = {"cache-control": "private, no-store", "referrer-policy": "no-referrer"}
    return Response(body, media_type=feeds.FEED_MEDIA_TYPE, headers=headers)


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
