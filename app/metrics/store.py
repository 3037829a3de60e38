"""Metrics kept in Redis, so one /metrics answer counts every API and worker process on
every host. Counters and histograms are hashes; live gauges are expiring per-process keys."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

PREFIX = "yds:metrics"
LIVE_GAUGE_TTL_SECONDS = 60

Labels = Mapping[str, str]


def counter_key(name: str) -> str:
    return f"{PREFIX}:counter:{name}"


def histogram_key(name: str) -> str:
    return f"{PREFIX}:histogram:{name}"


def live_gauge_key(name: str, instance: str) -> str:
    return f"{PREFIX}:live:{name}:{instance}"


def live_gauge_pattern(name: str) -> str:
    return f"{PREFIX}:live:{name}:*"


def encode_labels(labels: Labels) -> str:
    return json.dumps(dict(sorted(labels.items())), separators=(",", ":"))


def decode_labels(field: str | bytes) -> dict[str, str]:
    decoded: dict[str, str] = json.loads(field)
    return decoded


def histogram_fields(labels: Labels, value: float, buckets: tuple[float, ...]) -> dict[str, float]:
    """The hash increments of one observation: its bucket, the sum and the count."""
    bucket = next((str(b) for b in buckets if value <= b), "+Inf")
    base = encode_labels(labels)
    return {f"{base}|le={bucket}": 1, f"{base}|sum": value, f"{base}|count": 1}


def split_histogram_field(field: str) -> tuple[dict[str, str], str]:
    labels, _, part = field.rpartition("|")
    return decode_labels(labels), part


def add_all(pipe: Any, increments: Mapping[tuple[str, str], float]) -> None:
    """Queue HINCRBYFLOAT for each (key, field) on a (sync or async) Redis pipeline."""
    for (key, field), amount in increments.items():
        pipe.hincrbyfloat(key, field, amount)
