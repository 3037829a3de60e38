from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.auth.models import ApiKey
from app.core.database import changed_rows


def by_prefix(session: Session, prefix: str) -> Sequence[ApiKey]:
    return session.scalars(select(ApiKey).where(ApiKey.key_prefix == prefix)).all()


def by_id(session: Session, key_id: uuid.UUID) -> ApiKey | None:
    return session.get(ApiKey, key_id)


def exists_with_hash(session: Session, key_hash: str) -> bool:
    return session.scalar(select(ApiKey.id).where(ApiKey.key_hash == key_hash)) is not None


def insert(session: Session, **fields: Any) -> ApiKey:
    api_key = ApiKey(**fields)
    session.add(api_key)
    session.flush()
    return api_key


def list_all(session: Session) -> Sequence[ApiKey]:
    return session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc())).all()


def revoke(session: Session, key_id: uuid.UUID, now: dt.datetime) -> bool:
    statement = (
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return changed_rows(session, statement) == 1


def add_usage(session: Session, key_id: uuid.UUID, *, count: int, last_used: dt.datetime) -> None:
    session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id)
        .values(usage_count=ApiKey.usage_count + count, last_used_at=last_used)
        .execution_options(synchronize_session=False)
    )


def set_webhook_url(session: Session, key_id: uuid.UUID, url: str | None) -> ApiKey | None:
    api_key = session.get(ApiKey, key_id)
    if api_key is not None:
        api_key.webhook_url = url
        session.flush()
    return api_key
