"""Distributed tracing with OpenTelemetry, off unless TRACING_ENABLED (`Settings.tracing_on`).

One trace follows a download from the API's request to the worker that runs it: the API
puts the W3C trace context into the task message's headers (Celery's instrumentation on
`send_task`, `publishing` for the API's own Redis sender, which bypasses Celery), the
worker's Celery instrumentation continues it, and `span` marks the stages of a job inside.
The web framework, Celery, Redis, SQLAlchemy and (with S3 storage) botocore are
instrumented; spans leave by OTLP over HTTP (or to the console) in batches.

When tracing is off nothing here loads the SDK's tracer, an exporter or an
instrumentation: `span`, `publishing` and `untraced` cost one global read. (redis-py imports
the SDK's metrics package on its own whenever the SDK is installed; nothing uses it.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from app.core.config import Settings, StorageBackend

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer

logger = logging.getLogger(__name__)

T = TypeVar("T")

TRACER_NAME = "yds"
# Requests never traced: health checks and metric scrapes arrive every few seconds and
# would bury the traces of real work.
UNTRACED_URLS = "/health,/metrics"
# Span attributes, named as OpenTelemetry's messaging conventions and Celery's
# instrumentation name them, so the API's own task messages look like Celery's.
MESSAGE_ID = "messaging.message.id"
TASK_NAME = "celery.task_name"
JOB_ID = "yds.job_id"
VIDEO_ID = "yds.video_id"

_tracer: Tracer | None = None
_provider: TracerProvider | None = None
_INSTRUMENTED: list[Any] = []


def enabled() -> bool:
    """Whether this process records spans (`setup_tracing` turned tracing on)."""
    return _tracer is not None


def setup_tracing(settings: Settings, *, role: str, processor: SpanProcessor | None = None) -> bool:
    """Make this process's tracer provider and instrument its libraries with it, once per
    process; returns whether tracing is on. `role` (api, worker) names the service unless
    OTEL_SERVICE_NAME does. `processor` replaces the exporter the settings name (the tests
    collect spans in memory).

    The provider is handed to each instrumentation rather than installed as OpenTelemetry's
    global one: what is traced is exactly what is listed here (a library that traces on
    its own through the global provider, FastAPI's native telemetry among them, stays
    quiet), and `shutdown_tracing` can take all of it back."""
    global _tracer, _provider
    if not settings.tracing_on:
        return False
    if _tracer is not None:
        return True
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # Resource.create also reads OTEL_RESOURCE_ATTRIBUTES; the service name given here wins.
    service = settings.otel_service_name or f"yds-{role}"
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(processor or BatchSpanProcessor(_exporter(settings)))
    _instrument(_instrumentors(settings), provider)
    _provider = provider
    _tracer = provider.get_tracer(TRACER_NAME)
    logger.info("tracing on: service %s, exporter %s", service, settings.otel_traces_exporter)
    return True


def shutdown_tracing() -> None:
    """Send the spans still waiting, take every instrumentation back and turn tracing off.
    A worker's pool process calls it before it exits, which skips the exit hooks that would
    send them."""
    global _tracer, _provider
    if _provider is None:
        return
    for instrumentor in _INSTRUMENTED:
        instrumentor.uninstrument()
    _INSTRUMENTED.clear()
    provider, _provider, _tracer = _provider, None, None
    provider.shutdown()


def _exporter(settings: Settings) -> SpanExporter:
    if settings.otel_traces_exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    endpoint = settings.otel_exporter_otlp_endpoint
    # Without an endpoint the exporter reads OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or takes
    # the SDK's default (http://localhost:4318/v1/traces).
    return OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces" if endpoint else None)


def _instrumentors(settings: Settings) -> list[Any]:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    found: list[Any] = [CeleryInstrumentor(), RedisInstrumentor()]  # type: ignore[no-untyped-call]
    if settings.effective_storage is StorageBackend.S3:
        # Only with S3: instrumenting botocore imports it, which local storage never does.
        from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

        found.append(BotocoreInstrumentor())  # type: ignore[no-untyped-call]
    return found


def _instrument(instrumentors: list[Any], provider: TracerProvider) -> None:
    # A library outside the versions an instrumentation declares stops the start, rather
    # than leaving that library silently untraced.
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=provider, raise_exception_on_conflict=True)
        _INSTRUMENTED.append(instrumentor)
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # Declared for SQLAlchemy < 2.1 but works with our 2.1 (the tests trace the queries of
    # a download). It wraps the engine factories: `core.database` looks them up when it
    # makes an engine, so every engine made after this is traced.
    sqlalchemy = SQLAlchemyInstrumentor()
    sqlalchemy.instrument(tracer_provider=provider, skip_dep_check=True)
    _INSTRUMENTED.append(sqlalchemy)


def instrument_app(app: FastAPI) -> None:
    """Trace the API's requests (a span per request, none per message of a stream)."""
    if _tracer is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_provider,
        excluded_urls=UNTRACED_URLS,
        exclude_spans=["receive", "send"],
    )


@contextmanager
def span(name: str, *, job_id: object = None, video_id: str | None = None) -> Iterator[None]:
    """A span around a stage of work, child of the current one; nothing when off. An
    exception leaving it is recorded on it."""
    if _tracer is None:
        yield
        return
    attributes = {JOB_ID: str(job_id)} if job_id is not None else {}
    if video_id:
        attributes[VIDEO_ID] = video_id
    with _tracer.start_as_current_span(name, attributes=attributes):
        yield


@contextmanager
def publishing(task: str, task_id: str) -> Iterator[dict[str, str]]:
    """The trace headers of a task message sent without Celery (`core.broker`), inside a
    producer span named as Celery's instrumentation names its own (`apply_async/<task>`).
    The worker's instrumentation reads them as it reads those Celery sets. Empty when off."""
    carrier: dict[str, str] = {}
    if _tracer is None:
        yield carrier
        return
    from opentelemetry.propagate import inject
    from opentelemetry.trace import SpanKind

    with _tracer.start_as_current_span(
        f"apply_async/{task}",
        kind=SpanKind.PRODUCER,
        attributes={MESSAGE_ID: task_id, TASK_NAME: task},
    ):
        inject(carrier)
        yield carrier


def untraced(function: Callable[..., T]) -> Callable[..., T]:
    """`function`, with the libraries' instrumentation quiet while it runs: what repeats
    every few seconds through a whole job (the lease's renewals, progress events) would
    bury its stages under thousands of spans. Returned as it is when tracing is off."""
    if _tracer is None:
        return function
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    def run(*args: Any, **kwargs: Any) -> T:
        with suppress_instrumentation():
            return function(*args, **kwargs)

    return run
