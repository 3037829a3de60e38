"""Every series in Prometheus' text format, for `/metrics`. Apart from the recording side
(`app.metrics.service`): workers record metrics but never render them, so they do not load
prometheus_client."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

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
    counter_key,
    decode_labels,
    encode_labels,
    histogram_key,
    live_gauge_pattern,
    split_histogram_field,
)


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
    ytdlp_versions: Mapping[str, tuple[str, str]],
) -> bytes:
    """Every series in Prometheus' text format; the gauges are read by the caller.
    `ytdlp_versions` maps a process to the yt-dlp version it runs and where it came from."""
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
    ytdlp = GaugeMetricFamily(
        m.YTDLP_INFO.name, m.YTDLP_INFO.help, labels=["process", "version", "source"]
    )
    for process, (version, source) in sorted(ytdlp_versions.items()):
        ytdlp.add_metric([process, version, source], 1.0)
    families.append(ytdlp)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)
