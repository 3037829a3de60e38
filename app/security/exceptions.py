"""Errors of the address rules, as the API reports them."""

from __future__ import annotations

from app.core.errors import AppError


class ForbiddenAddressError(AppError):
    status_code = 400
    code = "forbidden_address"
    message = "The URL points at an address this service may not fetch from."
