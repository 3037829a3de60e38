from app.core.errors import AppError


class TranscriptNotFound(AppError):
    status_code = 404
    code = "transcript_not_found"
    message = "The job has no transcript in that language and format."


class TranscriptOptionsInvalid(AppError):
    status_code = 422
    code = "invalid_transcript_options"
    message = "max_seconds and max_words apply only to format=chunks."
