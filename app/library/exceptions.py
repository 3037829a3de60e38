"""Errors of the library domain."""

from __future__ import annotations

from app.core.errors import AppError


class EmptySearchQuery(AppError):
    status_code = 422
    code = "empty_search_query"
    message = "The search query has no words to look for (letters or digits)."


class InvalidTimeRange(AppError):
    status_code = 422
    code = "invalid_time_range"
    message = "`from` must not be after `to` (now, when it is not given)."


class TooManyBuckets(AppError):
    status_code = 422
    code = "too_many_buckets"
    message = "The range holds more buckets than can be asked for at once."
