"""Errors of the library domain."""

from __future__ import annotations

from app.core.errors import AppError


class EmptySearchQuery(AppError):
    status_code = 422
    code = "empty_search_query"
    message = "The search query has no words to look for (letters or digits)."
