"""Recording metrics (workers synchronously, the API through a buffer) and rendering them
in Prometheus' text format. Knows series, not what they count: callers say what happened."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping

import redis
import redis.asyncio
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from app.core.text import as_text
from app.metrics import definitions as m
from app.metrics.store import (
    LIVE_GAUGE_TTL_SECONDS,
    Labels,
    add_all,
    counter_key,
    decode_labels,
    encode_labels,
    histogram_fields,
    histogram_key,
    live_gauge_key,
    live_gauge_pattern,
    split_histogram_field,
)

logger = logging.getLogger(__name__)


class Increments:
    """Counter and histogram increments collected before one round trip to Redis."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], float] = defaultdict(float)

    def count(self, series: m.Series, labels: Labels | None = None, amount: float = 1) -> None:
        if amount:
            self.values[(counter_key(series.name), encode_labels(labels or {}))] += amount

    def observe(self, series: m.Series, value: float, labels: Labels | None = None) -> None:
        for field, amount in histogram_fields(labels or {}, value, series.buckets).items():
            self.values[(histogram_key(series.name), field)] += amount

    def take(self) -> dict[tuple[str, str], float]:
        taken, self.values = dict(self.values), defaultdict(float)
        return taken

    def flush(self, client: redis.Redis) -> None:
        """Best effort: metrics never fail the work they describe."""
        taken = self.take()
        if not taken:
            return
        try:
            pipe = client.pipeline(transaction=False)
            add_all(pipe, taken)
            pipe.execute()
        except redis.RedisError as exc:
            logger.warning("could not record metrics: %s", exc)

    async def flush_async(self, client: redis.asyncio.Redis) -> None:
        taken = self.take()
        if not taken:
            return
        try:
            async with client.pipeline(transaction=False) as pipe:
                add_all(pipe, taken)
                await pipe.execute()
        except redis.RedisError as exc:
            logger.warning("could not record metrics: %s", exc)


async def publish_live_gauge(
    client: redis.asyncio.Redis, series: m.Series, instance: str, value: float
) -> None:
    """This process's share of a gauge; it expires with the process."""
    try:
        await client.set(live_gauge_key(series.name, instance), value, ex=LIVE_GAUGE_TTL_SECONDS)
    except redis.RedisError as exc:
        logger.warning("could not record metrics: %s", exc)


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


RawHash = Mapping[bytes | str, bytes | str]


def _counter(series: m.Series, raw: RawHash) -> CounterMetricFamily:
    entries = [
        (decode_labels(as_text(field)), float(as_text(value))) for field, value in raw.items()
    ]
    names = sorted({name for labels, _ in entries for name in labels})
    family = CounterMetricFamily(series.name, series.help, labels=names)
    if not entries and not names:
        family.add_metric([], 0.0)
    for labels, value in entries:
        family.add_metric([labels.get(name, "") for name in names], value)
    return family


def _histogram(series: m.Series, raw: RawHash) -> HistogramMetricFamily:
    grouped: dict[str, dict[str, float]] = defaultdict(dict)
    label_sets: dict[str, dict[str, str]] = {}
    for field, value in raw.items():
        labels, part = split_histogram_field(as_text(field))
        key = encode_labels(labels)
        label_sets[key] = labels
        grouped[key][part] = float(as_text(value))
    names = sorted({name for labels in label_sets.values() for name in labels})
    family = HistogramMetricFamily(series.name, series.help, labels=names)
    for key, parts in grouped.items():
        cumulative, buckets = 0.0, []
        for bound in [*map(str, series.buckets), "+Inf"]:
            cumulative += parts.get(f"le={bound}", 0.0)
            buckets.append((bound, cumulative))
        family.add_metric(
            [label_sets[key].get(name, "") for name in names], buckets, parts.get("sum", 0.0)
        )
    return family


async def render(
    client: redis.asyncio.Redis,
    *,
    queue_depth: int,
    jobs_in_flight: int,
    breakers_open: Mapping[str, bool],
    damaged_files: Mapping[str, int],
) -> bytes:
    """Every series in Prometheus' text format; the gauges are read by the caller."""
    families: list[Metric] = []
    for series in m.COUNTERS:
        families.append(_counter(series, await client.hgetall(counter_key(series.name))))
    for series in m.HISTOGRAMS:
        families.append(_histogram(series, await client.hgetall(histogram_key(series.name))))
    clients = 0.0
    async for key in client.scan_iter(match=live_gauge_pattern(m.WEBSOCKET_CLIENTS.name)):
        clients += float(await client.get(key) or 0)
    for series, value in (
        (m.WEBSOCKET_CLIENTS, clients),
        (m.QUEUE_DEPTH, queue_depth),
        (m.JOBS_IN_FLIGHT, jobs_in_flight),
    ):
        families.append(GaugeMetricFamily(series.name, series.help, value=value))
    gauge = GaugeMetricFamily(m.BREAKER_OPEN.name, m.BREAKER_OPEN.help, labels=["name"])
    for name, is_open in breakers_open.items():
        gauge.add_metric([name], 1.0 if is_open else 0.0)
    families.append(gauge)
    damaged = GaugeMetricFamily(m.DAMAGED_FILES.name, m.DAMAGED_FILES.help, labels=["state"])
    for state, count in sorted(damaged_files.items()):
        damaged.add_metric([state], float(count))
    families.append(damaged)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)
