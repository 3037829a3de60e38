def as_text(value: bytes | str) -> str:
    """Redis answers bytes or str depending on the client's decode_responses."""
    return value.decode() if isinstance(value, bytes) else value
