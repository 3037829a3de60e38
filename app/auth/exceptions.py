from app.core.errors import AppError


class MissingApiKey(AppError):
    status_code = 401
    code = "missing_api_key"
    message = "An API key is required in the X-API-Key header."


class InvalidApiKey(AppError):
    status_code = 401
    code = "invalid_api_key"
    message = "The API key is not valid."
