"""Tracing: one download is one trace, from the API's request through the task message to
the worker's stages; with tracing off nothing of it is set up.

The traced download runs the real API (in this process, over ASGI) and a real Celery
worker (a thread of this process, consuming the test Redis), so one in-memory exporter
collects the spans of both sides of the message.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import httpx
import pytest
from pydantic import ValidationError

from app.core.config import Settings
from tests.support.jobs import fetch_job, submit
from tests.support.offline_youtube import STANDARD_VIDEO_ID
from tests.support.speech import spoken_clip, tiny_model
from tests.support.stack import TRANSCRIPTION_QUEUES, Stack, start_worker

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from tests.support.databases import DatabaseFactory
    from tests.support.factories import KeyFactory
    from tests.support.offline_youtube import OfflineYouTube
    from tests.support.stack import StartStack

SPOKEN_ID = "spokenTrace"
WORKER_STAGES = ("download.extract", "download.fetch", "download.postprocess", "download.store")


@dataclass
class Traced:
    http: httpx.AsyncClient
    spans: InMemorySpanExporter

    async def wait_for_span(
        self, name: str, within: float = 30, **attributes: object
    ) -> ReadableSpan:
        """The first finished span named `name` (with these attributes, if given), waiting
        for it up to `within` seconds."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for span in self.spans.get_finished_spans():
                found = span.attributes or {}
                if span.name == name and all(found.get(k) == v for k, v in attributes.items()):
                    return span
            await asyncio.sleep(0.05)
        names = sorted({span.name for span in self.spans.get_finished_spans()})
        raise AssertionError(f"no span {name!r} within {within} s; finished: {names}")


@pytest.fixture
def worker_settings(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, youtube_in_process: OfflineYouTube
) -> Iterator[Settings]:
    """The test's settings, also as the environment the worker thread's context reads
    (`worker_context()` builds from `get_settings()`), the media site on loopback allowed."""
    from app.core.config import get_settings
    from app.worker.context import worker_context

    traced = settings.model_copy(update={"tracing_enabled": True, "allow_private_networks": True})
    monkeypatch.setenv("DATABASE_URL", traced.database_url)
    monkeypatch.setenv("DOWNLOAD_BASE_PATH", str(traced.download_base_path))
    monkeypatch.setenv("WORK_DIR", str(traced.work_dir))
    monkeypatch.setenv("ALLOW_PRIVATE_NETWORKS", "true")
    monkeypatch.setenv("SUBTITLE_SLEEP_SECONDS", "0")
    get_settings.cache_clear()
    worker_context.cache_clear()
    yield traced
    context = worker_context()
    context.dispose()
    worker_context.cache_clear()
    get_settings.cache_clear()


@pytest.fixture
async def traced(worker_settings: Settings) -> AsyncIterator[Traced]:
    """Tracing on with an in-memory exporter; the API and a worker thread running."""
    from celery.contrib.testing.worker import start_worker
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from app.core import tracing
    from app.core.celery_app import DOWNLOADS_QUEUE, MAINTENANCE_QUEUE, celery_app
    from app.main import create_app

    exporter = InMemorySpanExporter()
    assert tracing.setup_tracing(
        worker_settings, role="test", processor=SimpleSpanProcessor(exporter)
    )
    try:
        app = create_app(worker_settings)
        with start_worker(
            celery_app,
            pool="solo",
            concurrency=1,
            perform_ping_check=False,
            queues=[DOWNLOADS_QUEUE, MAINTENANCE_QUEUE],
            loglevel="WARNING",
            shutdown_timeout=30,
        ):
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                    yield Traced(http=http, spans=exporter)
    finally:
        tracing.shutdown_tracing()


async def wait_until_completed(
    http: httpx.AsyncClient, key: str, job_id: str, within: float = 120
) -> dict[str, object]:
    deadline = time.monotonic() + within
    job = await fetch_job(http, key, job_id)
    while job["status"] not in ("completed", "failed", "canceled") and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        job = await fetch_job(http, key, job_id)
    assert job["status"] == "completed", job
    return job


def ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    """The names of the span's parents, nearest first (as far as they were recorded)."""
    names = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


@pytest.mark.e2e
async def test_one_download_is_one_trace_from_the_request_to_the_stored_files(
    traced: Traced, make_key: KeyFactory, youtube_in_process: OfflineYouTube, backend: str
) -> None:
    from opentelemetry.trace import SpanKind

    key = make_key()
    job = await submit(traced.http, key, youtube_in_process.video_url(STANDARD_VIDEO_ID))
    done = await wait_until_completed(traced.http, key, job["job_id"])
    assert {f["kind"] for f in done["files"]} >= {"video"}  # type: ignore[attr-defined]
    # A message another test left on the queue may run first: the task is this job's.
    task = await traced.wait_for_span(
        "run/downloads.run", **{"messaging.message.id": job["job_id"]}
    )

    request = next(
        s for s in traced.spans.get_finished_spans() if s.name == "POST /api/v1/downloads"
    )
    assert request.kind is SpanKind.SERVER
    assert request.parent is None, "the request starts the trace"
    trace_id = request.context.trace_id
    trace = [s for s in traced.spans.get_finished_spans() if s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in trace}
    by_name = {s.name: s for s in trace}

    # The API's message carries the request's context to the worker, which continues it.
    sent = by_name["apply_async/downloads.run"]
    assert sent.kind is SpanKind.PRODUCER
    assert sent.attributes is not None and sent.attributes["messaging.message.id"] == job["job_id"]
    assert "POST /api/v1/downloads" in ancestors(sent, by_id)
    assert task.context.trace_id == trace_id, "the task is in the request's trace"
    assert task.kind is SpanKind.CONSUMER
    assert task.parent is not None and task.parent.span_id == sent.context.span_id

    # The worker's stages, children of the task, in order.
    stages = [by_name[name] for name in WORKER_STAGES]
    for stage in stages:
        assert ancestors(stage, by_id)[-3:] == [
            "run/downloads.run",
            "apply_async/downloads.run",
            "POST /api/v1/downloads",
        ], stage.name
    starts = [stage.start_time or 0 for stage in stages]
    assert starts == sorted(starts), "extract, fetch, post-process, store"
    assert by_name["download.store"].attributes == {"yds.job_id": job["job_id"]}

    # The libraries' spans join the same trace: the API's message on Redis, the job's row
    # written by the API and updated by the worker.
    assert any(s.name == "LPUSH" and s.parent == sent.context for s in trace), sorted(by_name)
    queries = [s for s in trace if s.attributes and s.attributes.get("db.system") == backend]
    api_writes = {s.name.split()[0] for s in queries if s.parent == request.context}
    worker_writes = {s.name.split()[0] for s in queries if s.parent == task.context}
    assert "INSERT" in api_writes, sorted(by_name)
    assert "UPDATE" in worker_writes, sorted(by_name)


@dataclass(frozen=True)
class Exported:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str


@dataclass
class OtlpCollector:
    """An OTLP/HTTP receiver on loopback: what the processes' exporters send, decoded."""

    url: str = ""
    spans: list[Exported] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def receive(self, body: bytes) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            service = next(
                a.value.string_value
                for a in resource_spans.resource.attributes
                if a.key == "service.name"
            )
            for scope in resource_spans.scope_spans:
                with self.lock:
                    self.spans.extend(
                        Exported(
                            service,
                            span.name,
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                        )
                        for span in scope.spans
                    )

    def named(self, service: str, name: str) -> list[Exported]:
        with self.lock:
            return [s for s in self.spans if s.service == service and s.name == name]

    async def wait_for(self, service: str, name: str, within: float = 30) -> Exported:
        deadline = time.monotonic() + within
        while not self.named(service, name):
            if time.monotonic() > deadline:
                with self.lock:
                    seen = sorted({(s.service, s.name) for s in self.spans})
                raise AssertionError(f"{service} exported no {name!r}; exported: {seen}")
            await asyncio.sleep(0.05)
        return self.named(service, name)[0]


@pytest.fixture(scope="module")
def otlp_collector() -> Iterator[OtlpCollector]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    collector = OtlpCollector()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/v1/traces":
                collector.receive(body)
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200 if self.path == "/v1/traces" else 404)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    collector.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield collector
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def traced_stack(
    start_stack: StartStack,
    otlp_collector: OtlpCollector,
    offline_youtube: OfflineYouTube,
    tmp_path_factory: pytest.TempPathFactory,
) -> Stack:
    """As deployed: `python -m app.serve`, a prefork download worker and a transcription
    worker, tracing turned on by the environment alone, spans sent over OTLP/HTTP."""
    clip = spoken_clip(tmp_path_factory.mktemp("spoken"))
    offline_youtube.add_video_from_files(SPOKEN_ID, progressive=clip.video, audio=clip.audio)
    stack = start_stack(
        "traced",
        redis_db=11,
        TRACING_ENABLED="true",
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp_collector.url,
        OTEL_BSP_SCHEDULE_DELAY="100",  # the SDK's batch interval, ms (default 5 s)
        ASR_ENABLED="true",
        ASR_MODEL=str(tiny_model()),
        ASR_CPU_THREADS="1",
        SUBTITLE_SLEEP_SECONDS="0",
    )
    stack.workers.append(
        start_worker(
            stack.env, stack.log_dir, name="asr-worker", queues=TRANSCRIPTION_QUEUES, concurrency=1
        )
    )
    return stack


def in_trace(spans: list[Exported], trace_id: str) -> list[Exported]:
    return [s for s in spans if s.trace_id == trace_id]


@pytest.mark.e2e
async def test_the_api_and_worker_processes_send_one_trace_to_the_otlp_endpoint(
    traced_stack: Stack, otlp_collector: OtlpCollector
) -> None:
    stack = traced_stack
    key = stack.key()
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        job = await submit(http, key, stack.youtube.video_url(STANDARD_VIDEO_ID))
        await wait_until_completed(http, key, job["job_id"])

    # The task's span ends last, after its stages'.
    task = await otlp_collector.wait_for("yds-worker", "run/downloads.run")
    (store,) = otlp_collector.named("yds-worker", "download.store")
    (sent,) = otlp_collector.named("yds-api", "apply_async/downloads.run")
    (request,) = otlp_collector.named("yds-api", "POST /api/v1/downloads")
    assert request.parent_id == ""
    assert sent.trace_id == task.trace_id == store.trace_id == request.trace_id
    assert task.parent_id == sent.span_id
    assert store.parent_id == task.span_id
    # The stack waited for /health to answer: health checks are never traced.
    assert not otlp_collector.named("yds-api", "GET /health")


@pytest.mark.e2e
async def test_speech_recognition_continues_the_trace_of_its_download(
    traced_stack: Stack, otlp_collector: OtlpCollector
) -> None:
    stack = traced_stack
    key = stack.key()
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        job = await submit(
            http, key, stack.youtube.video_url(SPOKEN_ID), transcribe="missing", quality="worst"
        )
        done = await wait_until_completed(http, key, job["job_id"], within=240)
    assert done["transcripts"]["languages"][0]["source"] == "asr"  # type: ignore[index]

    await otlp_collector.wait_for("yds-worker", "run/transcription.run")
    (recognise,) = otlp_collector.named("yds-worker", "transcription.recognise")
    with otlp_collector.lock:
        trace = in_trace(otlp_collector.spans, recognise.trace_id)
    names = {(s.service, s.name) for s in trace}
    assert {
        ("yds-api", "POST /api/v1/downloads"),
        ("yds-worker", "run/downloads.run"),
        ("yds-worker", "download.store"),
        ("yds-worker", "apply_async/transcription.run"),
        ("yds-worker", "run/transcription.run"),
    } <= names, sorted(names)
    by_id = {s.span_id: s for s in trace}
    run = by_id[recognise.parent_id]
    assert run.name == "run/transcription.run"
    assert by_id[run.parent_id].name == "apply_async/transcription.run"


# What an API process and a worker's pool process load when they start, serve a request
# and take their first message, printed as JSON; tracing is not asked for, although an
# OTLP endpoint is set (and FastAPI is told to configure exporters from it).
START_WITHOUT_TRACING = """
import asyncio, json, sys
import httpx
from celery.signals import worker_process_init
from opentelemetry import trace
from app.core import tracing
from app.core.celery_app import celery_app
from app.main import create_app

async def serve():
    app = create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return (await http.get("/health")).status_code

status = asyncio.run(serve())
celery_app.loader.import_default_modules()
worker_process_init.send(sender=None)
with tracing.span("download.extract"), tracing.publishing("downloads.run", "id") as headers:
    pass
print(json.dumps({
    "status": status,
    "enabled": tracing.enabled(),
    "headers": headers,
    "provider": type(trace.get_tracer_provider()).__name__,
    "loaded": sorted(
        name for name in sys.modules
        if name.startswith(("opentelemetry.sdk.trace", "opentelemetry.instrumentation",
                            "opentelemetry.exporter"))
    ),
}))
"""


def test_with_tracing_off_no_tracer_exporter_or_instrumentation_is_set_up(
    db_factory: DatabaseFactory,
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": db_factory.sqlite(),
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
        "FASTAPI_OTEL_AUTO_CONFIGURE": "true",
    }
    env.pop("TRACING_ENABLED", None)
    ran = subprocess.run(
        [sys.executable, "-c", START_WITHOUT_TRACING],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = json.loads(ran.stdout.splitlines()[-1])
    assert found == {
        "status": 200,
        "enabled": False,
        "headers": {},
        "provider": "ProxyTracerProvider",
        "loaded": [],
    }


@pytest.mark.parametrize(
    "veto", [{"otel_sdk_disabled": True}, {"otel_traces_exporter": "none"}, {}]
)
def test_tracing_is_on_only_when_enabled_and_not_vetoed_by_the_otel_variables(
    veto: dict[str, object],
) -> None:
    on = Settings(_env_file=None, tracing_enabled=True, **veto)  # type: ignore[arg-type]
    assert on.tracing_on is (veto == {})
    assert Settings(_env_file=None).tracing_on is False, "off by default"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("otel_traces_exporter", "jaeger", "OTEL_TRACES_EXPORTER='jaeger' is not one of"),
        ("otel_exporter_otlp_endpoint", "collector:4318", "must be an http:// or https:// URL"),
    ],
)
def test_an_unknown_exporter_or_endpoint_stops_the_start(
    field: str, value: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None, **{field: value})  # type: ignore[arg-type]
