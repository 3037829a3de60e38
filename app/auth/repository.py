from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import ApiKey


def get_active_by_hash(session: Session, key_hash: str) -> ApiKey | None:
    return session.scalar(
        select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.is_active.is_(True))
    )


def exists_with_hash(session: Session, key_hash: str) -> bool:
    return session.scalar(select(ApiKey.id).where(ApiKey.key_hash == key_hash)) is not None


def insert(
    session: Session, *, name: str, key_prefix: str, key_hash: str, scopes: list[str]
) -> ApiKey:
    api_key = ApiKey(name=name, key_prefix=key_prefix, key_hash=key_hash, scopes=scopes)
    session.add(api_key)
    session.flush()
    return api_key
