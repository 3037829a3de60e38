from app.core.errors import AppError


class MissingApiKey(AppError):
    status_code = 401
    code = "missing_api_key"
    message = "An API key is required in the X-API-Key header."


class InvalidApiKey(AppError):
    status_code = 401
    code = "invalid_api_key"
    message = "The API key is not valid."


class ApiKeyRevoked(AppError):
    status_code = 401
    code = "api_key_revoked"
    message = "The API key has been revoked."


class ApiKeyExpired(AppError):
    status_code = 401
    code = "api_key_expired"
    message = "The API key has expired."


class InsufficientScope(AppError):
    status_code = 403
    code = "insufficient_scope"
    message = "The API key lacks the scope this operation needs."


class ExpiryNotInFuture(AppError):
    """A rule about the clock, not the request's shape (the schema cannot say "after now")."""

    status_code = 422
    code = "expiry_in_past"
    message = "expires_at must be in the future."


class ApiKeyNotFound(AppError):
    status_code = 404
    code = "api_key_not_found"
    message = "No such API key."


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"
    message = "Too many requests; slow down."


class QuotaExceeded(AppError):
    status_code = 429
    code = "quota_exceeded"
    message = "The key's job quota is used up."


class SessionExpired(AppError):
    status_code = 401
    code = "session_expired"
    message = "The sign-in session has ended; sign in again with your API key."


class CsrfFailed(AppError):
    status_code = 403
    code = "csrf_failed"
    message = "A request signed in by cookie must repeat the session's X-CSRF-Token header."


# What any authenticated request can answer (by header, or by a browser session's cookie).
AUTH_ERRORS = (
    MissingApiKey,
    InvalidApiKey,
    ApiKeyRevoked,
    ApiKeyExpired,
    SessionExpired,
    CsrfFailed,
    RateLimited,
)
