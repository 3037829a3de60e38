"""Errors of the job record, as the API reports them."""

from __future__ import annotations

from app.core.errors import AppError


class JobNotFound(AppError):
    status_code = 404
    code = "job_not_found"
    message = "No such job."
