"""Errors of the subscriptions domain."""

from __future__ import annotations

from app.core.errors import AppError


class SubscriptionNotFound(AppError):
    status_code = 404
    code = "subscription_not_found"
    message = "No such subscription."


class FeedNotFound(AppError):
    status_code = 404
    code = "feed_not_found"
    message = "No such feed."


class InvalidSubscriptionUrl(AppError):
    status_code = 422
    code = "invalid_subscription_url"
    message = (
        "A subscription follows a YouTube channel (its videos, shorts or streams tab) or a "
        "playlist, not a single video."
    )


class InvalidPattern(AppError):
    status_code = 422
    code = "invalid_pattern"
    message = "The title pattern is not a safe regular expression."


class InvalidLink(AppError):
    status_code = 403
    code = "invalid_link"
    message = "This link is not valid."


class LinkExpired(AppError):
    status_code = 403
    code = "link_expired"
    message = "This link has expired; fetch the feed again for a fresh one."
