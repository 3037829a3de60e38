"""Typed settings for every process (API, worker, beat, CLI), from the environment and `.env`."""

from __future__ import annotations

import enum
import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The YTDLP_PROXIES entry for a route without a proxy.
DIRECT_ROUTE = "direct"
# The hosts of YouTube: what ALLOWED_DOMAINS allows by default, and what the URL rules
# read as YouTube (videos, playlists, channels).
YOUTUBE_HOSTS = (
    "youtube.com",
    "www.youtube.com",
    "m.youtube.com",
    "music.youtube.com",
    "youtu.be",
    "youtube-nocookie.com",
    "www.youtube-nocookie.com",
)


# CTranslate2's compute types (ASR_COMPUTE_TYPE).
ASR_COMPUTE_TYPES = (
    "default", "auto", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16",
    "float16", "bfloat16", "float32",
)  # fmt: skip
# The span exporters OTEL_TRACES_EXPORTER may name (OTLP is over HTTP, protobuf).
TRACES_EXPORTERS = ("otlp", "console", "none")
# The JavaScript runtimes yt-dlp knows (YTDLP_JS_RUNTIMES).
JS_RUNTIMES = ("deno", "node", "bun", "quickjs")


class Environment(enum.StrEnum):
    LOCALHOST = "localhost"
    AWS = "aws"


class YtdlpUpdate(enum.StrEnum):
    OFF = "off"
    STABLE = "stable"
    NIGHTLY = "nightly"  # yt-dlp's nightly builds, published to PyPI as pre-releases


class StorageBackend(enum.StrEnum):
    AUTO = "auto"
    LOCAL = "local"
    S3 = "s3"


class TranscribeMode(enum.StrEnum):
    """When a download gets a transcript by speech recognition (ASR) of its audio."""

    NEVER = "never"
    MISSING = "missing"  # only when the video's captions gave no transcript in the asked language
    ALWAYS = "always"  # beside the captions, too


class AsrDevice(enum.StrEnum):
    CPU = "cpu"
    CUDA = "cuda"
    AUTO = "auto"


class Settings(BaseSettings):
    """All configuration in one place; invalid values stop the process at start-up."""

    # hide_input_in_errors: a start-up error must not print a secret it failed to parse.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", hide_input_in_errors=True
    )

    environment: Environment = Environment.LOCALHOST
    debug: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "INFO"

    database_url: str = "sqlite+aiosqlite:///./data/app.db"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Empty means "use REDIS_URL"; an sqs:// URL selects SQS as the Celery broker.
    broker_url: str = ""
    # The API process's Redis pools. Requests (and progress streams while they start) share
    # one that waits up to REDIS_POOL_TIMEOUT_SECONDS for a free connection instead of
    # failing; /health/detailed, /metrics and the metrics flush have their own, so no load
    # on the first can make the instance look unhealthy. Progress events arrive over one
    # more connection per process, whatever the number of watchers.
    redis_max_connections: int = Field(default=50, ge=2, le=10_000)
    redis_pool_timeout_seconds: float = Field(default=5, gt=0, le=60)
    redis_ops_max_connections: int = Field(default=4, ge=1, le=100)

    download_base_path: Path = Path("./data/downloads")
    work_dir: Path = Path("./data/work")
    max_file_size_gb: float = Field(default=10.0, gt=0)
    max_concurrent_downloads: int = Field(default=2, ge=1, le=64)
    download_timeout: int = Field(default=3600, ge=30, description="Seconds a job may run.")
    job_lease_seconds: int = Field(default=90, ge=10)
    max_attempts: int = Field(default=3, ge=1, le=20)
    requeue_after_seconds: int = Field(default=300, ge=10)
    reconcile_interval_seconds: float = Field(default=30, ge=1, le=3600)
    # A queued job due this long without a worker taking it is raised one priority step
    # (low to normal, normal to high) and sent again on that queue; 0: never.
    priority_age_boost_minutes: float = Field(default=30, ge=0, le=7 * 24 * 60)
    # A queued job whose message is in no broker queue gets a new one after this long.
    dispatch_grace_seconds: int = Field(default=15, ge=1)
    max_retries: int = Field(default=5, ge=0, le=50)
    retry_backoff_seconds: float = Field(default=30, ge=0.1)
    retry_backoff_max_seconds: float = Field(default=900, ge=1)
    breaker_cooldown_seconds: int = Field(default=300, ge=1)
    worker_shutdown_grace_seconds: float = Field(default=30, ge=0)
    worker_db_retry_seconds: float = Field(default=60, ge=0)
    # How speech-recognition captions are re-timed into cues (manual ones keep theirs and
    # only get their lines wrapped to TRANSCRIPT_MAX_LINE_CHARS).
    transcript_max_cue_seconds: float = Field(default=7.0, ge=1, le=30)
    transcript_min_cue_seconds: float = Field(default=0.7, ge=0, le=5)
    transcript_max_line_chars: int = Field(default=42, ge=16, le=200)
    transcript_max_lines: int = Field(default=2, ge=1, le=6)
    ytdlp_cookies_file: Path | None = None
    ytdlp_proxy: SecretStr = SecretStr("")  # may carry a password
    # The JavaScript runtimes yt-dlp may use for YouTube's challenges, in yt-dlp's own
    # form: `name[:path]`, comma-separated (deno, node, bun, quickjs).
    ytdlp_js_runtimes: Annotated[tuple[str, ...], NoDecode] = ("deno",)
    # Parallel byte ranges of one file (and fragments of DASH/HLS) per download; 1 fetches
    # over a single connection. A process never opens more than the per-host number at once.
    download_connections: int = Field(default=4, ge=1, le=32)
    download_connections_per_host: int = Field(default=4, ge=1, le=64)

    storage_backend: StorageBackend = StorageBackend.AUTO
    s3_bucket_name: str = ""
    s3_prefix: str = ""
    aws_region: str = "us-east-1"
    s3_endpoint_url: str = ""
    # Where clients reach S3 when the workers use an internal name (MinIO in compose).
    s3_public_endpoint_url: str = ""
    s3_cloudfront_domain: str = ""
    presigned_url_ttl: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    file_retention_hours: float = Field(default=0, ge=0)
    # A paused job's partial files are kept this long; then it fails `paused_expired` and
    # they are deleted (0 keeps paused jobs until they are resumed or canceled).
    paused_retention_hours: float = Field(default=72, ge=0)
    # How often every stored file is checked against its recorded size and SHA-256; 0 never.
    integrity_scrub_interval_seconds: float = Field(default=86400, ge=0)
    min_free_disk_gb: float = Field(default=1.0, ge=0)
    # The API measures free disk on this clock, not on every request.
    free_disk_check_seconds: float = Field(default=2.0, gt=0, le=60)
    # Set by ECS in every task; their presence means "running on AWS" when ENVIRONMENT is unset.
    ecs_container_metadata_uri: str = Field(
        default="",
        validation_alias=AliasChoices(
            "ECS_CONTAINER_METADATA_URI_V4", "ECS_CONTAINER_METADATA_URI"
        ),
    )

    subtitle_sleep_seconds: float = Field(
        default=1.0, ge=0, le=60, description="Pause before each subtitle request (HTTP 429)."
    )
    info_cache_seconds: int = Field(default=300, ge=0, le=86400)

    allowed_domains: Annotated[tuple[str, ...], NoDecode] = YOUTUBE_HOSTS
    allow_private_networks: bool = False
    allowed_private_cidrs: Annotated[tuple[str, ...], NoDecode] = ()

    bootstrap_admin_api_key: str = ""
    api_key_header: str = "X-API-Key"
    # Keys are stored as HMAC-SHA256 under this secret. Locally, one is generated into
    # API_KEY_SECRET_FILE on first start; on AWS it must be given (Secrets Manager).
    api_key_secret: SecretStr = SecretStr("")
    api_key_secret_file: Path = Path("./data/api-key-secret")
    # How long an API process reuses a key it looked up: a key revoked or changed through
    # another process (or the CLI) keeps working there for at most this long; 0 disables.
    api_key_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # A web UI session (the HttpOnly cookie a key is exchanged for) ends after this long
    # without a request; sign-out, or revoking the key, ends it at once.
    ui_session_hours: float = Field(default=12, gt=0, le=24 * 30)

    rate_limit_per_minute: int = Field(default=120, ge=1)
    rate_limit_per_ip_per_minute: int = Field(default=600, ge=1)
    max_active_jobs_per_key: int = Field(default=20, ge=1)
    max_jobs_per_day_per_key: int = Field(default=1000, ge=1)
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    max_request_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # A connection whose request line and headers are not complete in this time is closed.
    request_head_timeout_seconds: float = Field(default=10, gt=0, le=300)
    # How long an idle kept-alive connection stays open. Longer than the idle timeout of
    # whatever proxy or load balancer reuses connections to the API (60 s on most; our
    # Terraform passes the ALB's plus 5 s): a proxy that sends a request just as the API
    # closes the connection answers its client 502, and a client that reuses it gets a
    # reset. uvicorn's own default is 5 s.
    api_keep_alive_seconds: int = Field(default=75, ge=1, le=3600)
    # uvicorn: connections and requests at once before it answers 503, and its listen backlog.
    # The API raises its open-files limit to fit API_LIMIT_CONCURRENCY at start-up.
    api_limit_concurrency: int = Field(default=4096, ge=16, le=1_000_000)
    api_backlog: int = Field(default=2048, ge=16, le=65_535)

    # Progress streams (WebSocket and server-sent events). A stream that falls behind keeps
    # at most PROGRESS_STREAM_BUFFER events waiting (a job's progress events coalesced to
    # the latest); one whose client takes longer than PROGRESS_SEND_TIMEOUT_SECONDS to accept
    # a message is closed (4408). Server-sent events get a keep-alive comment when idle.
    progress_stream_buffer: int = Field(default=256, ge=8, le=100_000)
    progress_send_timeout_seconds: float = Field(default=10, gt=0, le=600)
    progress_keepalive_seconds: float = Field(default=15, gt=0, le=300)

    # Playlists, channels and batches (parent jobs).
    max_playlist_items: int = Field(default=500, ge=1, le=10_000)
    playlist_concurrency: int = Field(default=3, ge=1, description="Children at once, default.")
    max_playlist_concurrency: int = Field(default=10, ge=1)
    batch_max_urls: int = Field(default=100, ge=1, le=1000)

    # Subscriptions: followed channels and playlists checked on a schedule, and their feeds.
    subscription_min_interval_minutes: int = Field(default=15, ge=1, le=7 * 24 * 60)
    subscription_max_attempts: int = Field(default=3, ge=1, le=20)
    feed_link_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60, le=90 * 24 * 3600)

    # Webhooks: a signed POST when a job ends, retried with exponential backoff.
    webhook_max_attempts: int = Field(default=6, ge=1, le=20)
    webhook_retry_backoff_seconds: float = Field(default=10, ge=0.1)
    webhook_timeout_seconds: float = Field(default=10, gt=0, le=60)

    # YouTube cookies and PO tokens: the directory an admin's uploaded cookie file is kept in
    # (0700, the file 0600; S3 holds it on AWS), and the base URL of the PO-token provider
    # (bgutil-ytdlp-pot-provider's HTTP server); empty means no provider.
    ytdlp_cookies_dir: Path = Path("./data/secrets")
    ytdlp_pot_provider_url: str = ""
    # Proxy routes and browser impersonation for yt-dlp. YTDLP_PROXIES: the routes downloads
    # leave by, in order of preference (http://[user:password@]host:port, or `direct`); each
    # rests for BREAKER_COOLDOWN_SECONDS after a bot check or HTTP 429 while the others carry
    # on. YTDLP_PROXY is the one-route form. YTDLP_IMPERSONATE: a browser whose TLS
    # fingerprint and headers yt-dlp presents (curl_cffi: chrome, chrome-131, safari, ...);
    # empty is off.
    ytdlp_proxies: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    ytdlp_impersonate: str = ""
    # yt-dlp updates without a rebuild: the worker installs the newest yt-dlp (and its EJS
    # package) under YTDLP_UPDATE_DIR at start and every YTDLP_UPDATE_INTERVAL_HOURS, checks
    # it offline in a child process, and only then makes it the one new processes load.
    # YTDLP_UPDATE_FIND_LINKS (a directory or page of wheels) replaces the package index;
    # YTDLP_UPDATE_INDEX_URL names a mirror of it (empty: pip's default, PyPI).
    ytdlp_update: YtdlpUpdate = YtdlpUpdate.OFF
    ytdlp_update_interval_hours: float = Field(default=24, ge=0.25, le=24 * 30)
    ytdlp_update_dir: Path = Path("./data/ytdlp")
    ytdlp_update_find_links: str = ""
    ytdlp_update_index_url: SecretStr = SecretStr("")  # a mirror's URL may carry a password

    # Speech recognition (faster-whisper) of a download's audio, on its own Celery queue
    # (`transcription`, ASR_CONCURRENCY at once). ASR_MODEL is a model directory (a
    # CTranslate2 conversion of Whisper) or a model name; a name is looked up in the local
    # Hugging Face cache only, unless ASR_MODEL_DOWNLOAD allows fetching it from the hub.
    asr_enabled: bool = False
    asr_default_transcribe: TranscribeMode = TranscribeMode.MISSING
    asr_model: str = ""
    asr_model_download: bool = False
    asr_device: AsrDevice = AsrDevice.CPU
    asr_compute_type: str = "int8"
    asr_cpu_threads: int = Field(default=0, ge=0, le=256)
    asr_beam_size: int = Field(default=5, ge=1, le=20)
    asr_vad: bool = False
    asr_concurrency: int = Field(default=1, ge=1, le=64)

    # Distributed tracing (OpenTelemetry), off by default: TRACING_ENABLED turns it on, and
    # the standard OTEL_* variables say where spans go. OTEL_SDK_DISABLED=true, or
    # OTEL_TRACES_EXPORTER=none, keeps it off whatever TRACING_ENABLED says. The exporter is
    # OTLP over HTTP (protobuf) to OTEL_EXPORTER_OTLP_ENDPOINT (empty: the SDK's default,
    # http://localhost:4318), or `console` (spans printed, for a look at them locally).
    # OTEL_SERVICE_NAME names the process (empty: yds-api, yds-worker, yds-beat); the SDK
    # reads the other OTEL_* variables (sampler, headers, resource attributes) itself.
    tracing_enabled: bool = False
    otel_sdk_disabled: bool = False
    otel_traces_exporter: str = "otlp"
    otel_exporter_otlp_endpoint: str = ""
    otel_service_name: str = ""
    # Allocation tracing for finding leaks (app.core.memtrace), off when empty: a directory
    # where the API and each worker pool process write a tracemalloc snapshot on SIGUSR2.
    # Slows allocations; a diagnostic, never reachable through the API.
    memory_trace_dir: str = ""
    asr_timeout: int = Field(default=3600, ge=30, description="Seconds a recognition may run.")

    @field_validator("allowed_domains", mode="before")
    @classmethod
    def _split_domains(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip().lower() for part in value.split(",") if part.strip())
        return value

    @field_validator("allowed_private_cidrs", "trusted_proxies", "cors_origins", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("allowed_private_cidrs", "trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for network in value:
            ipaddress.ip_network(network, strict=False)  # raises ValueError with the reason
        return value

    @field_validator("cors_origins")
    @classmethod
    def _valid_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"CORS origin {origin!r} must be * or start with http(s)://")
        return tuple(origin.rstrip("/") for origin in value)

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "DATABASE_URL must use an async driver: sqlite+aiosqlite:///path "
                "or postgresql+asyncpg://user:pass@host/db"
            )
        return value

    @field_validator("s3_prefix")
    @classmethod
    def _clean_prefix(cls, value: str) -> str:
        prefix = value.strip("/")
        if ".." in prefix.split("/") or any(ord(ch) < 32 for ch in prefix):
            raise ValueError("S3_PREFIX must be a plain path such as 'downloads' or 'yds/prod'")
        return prefix

    @model_validator(mode="after")
    def _check_concurrency(self) -> Settings:
        if self.playlist_concurrency > self.max_playlist_concurrency:
            raise ValueError("PLAYLIST_CONCURRENCY must not exceed MAX_PLAYLIST_CONCURRENCY")
        return self

    @field_validator("asr_compute_type")
    @classmethod
    def _known_compute_type(cls, value: str) -> str:
        if value not in ASR_COMPUTE_TYPES:
            raise ValueError(f"ASR_COMPUTE_TYPE must be one of {', '.join(ASR_COMPUTE_TYPES)}")
        return value

    @model_validator(mode="after")
    def _check_asr(self) -> Settings:
        if self.asr_enabled and not self.asr_model.strip():
            raise ValueError(
                "ASR_ENABLED needs ASR_MODEL: a Whisper model directory for CTranslate2, or a "
                "model name (with ASR_MODEL_DOWNLOAD=true to fetch it from the hub)"
            )
        return self

    @model_validator(mode="after")
    def _check_cue_limits(self) -> Settings:
        if self.transcript_min_cue_seconds >= self.transcript_max_cue_seconds:
            raise ValueError(
                "TRANSCRIPT_MIN_CUE_SECONDS must be less than TRANSCRIPT_MAX_CUE_SECONDS"
            )
        return self

    @model_validator(mode="after")
    def _check_bootstrap_key(self) -> Settings:
        key = self.bootstrap_admin_api_key
        if key and len(key) < 24:
            raise ValueError("BOOTSTRAP_ADMIN_API_KEY must be at least 24 characters long")
        if key and (not key.isascii() or any(not ch.isprintable() or ch.isspace() for ch in key)):
            # Such a key could never arrive intact in an HTTP header.
            raise ValueError(
                "BOOTSTRAP_ADMIN_API_KEY may hold only printable ASCII characters, no spaces"
            )
        return self

    @field_validator("ytdlp_js_runtimes", mode="before")
    @classmethod
    def _js_runtimes(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, (tuple, list)):
            for entry in value:
                name = str(entry).partition(":")[0]
                if name not in JS_RUNTIMES:
                    raise ValueError(
                        f"YTDLP_JS_RUNTIMES: unknown runtime {name!r}; "
                        f"use {', '.join(JS_RUNTIMES)}, each optionally as name:path"
                    )
            if not value:
                raise ValueError("YTDLP_JS_RUNTIMES needs at least one runtime")
        return value

    @property
    def js_runtimes(self) -> dict[str, dict[str, str]]:
        """YTDLP_JS_RUNTIMES as yt-dlp's `js_runtimes` option."""
        found: dict[str, dict[str, str]] = {}
        for entry in self.ytdlp_js_runtimes:
            name, _, path = entry.partition(":")
            found[name] = {"path": path} if path else {}
        return found

    @field_validator("ytdlp_cookies_file", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("ytdlp_pot_provider_url")
    @classmethod
    def _provider_url(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
            raise ValueError("YTDLP_POT_PROVIDER_URL must be an http(s)://host:port URL")
        if port is None or parts.path.strip("/") or parts.query:
            raise ValueError(
                "YTDLP_POT_PROVIDER_URL must name a port and no path, e.g. http://127.0.0.1:4416"
            )
        return value.rstrip("/")

    @field_validator("ytdlp_proxy")
    @classmethod
    def _http_proxy(cls, secret: SecretStr) -> SecretStr:
        value = secret.get_secret_value()
        if value and not _is_http_proxy(value):
            # Never echo the value: it may hold the proxy's password.
            raise ValueError("YTDLP_PROXY must be an http://[user:password@]host:port URL")
        return secret

    @field_validator("ytdlp_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("ytdlp_proxies")
    @classmethod
    def _proxy_routes(cls, routes: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for position, route in enumerate(routes, start=1):
            value = route.get_secret_value()
            if value != DIRECT_ROUTE and not _is_http_proxy(value):
                # Never echo the value: it may hold the proxy's password.
                raise ValueError(
                    f"YTDLP_PROXIES entry {position} must be `direct` or an "
                    "http://[user:password@]host:port URL"
                )
        return routes

    @field_validator("ytdlp_impersonate")
    @classmethod
    def _impersonation_target(cls, value: str) -> str:
        target = value.strip().lower()
        if target:
            _check_impersonation_target(target)
        return target

    @model_validator(mode="after")
    def _one_proxy_setting(self) -> Settings:
        if self.ytdlp_proxies and self.ytdlp_proxy.get_secret_value():
            raise ValueError(
                "Set YTDLP_PROXIES or YTDLP_PROXY, not both (YTDLP_PROXIES holds a list)"
            )
        return self

    @field_validator("ytdlp_update_index_url")
    @classmethod
    def _index_url(cls, secret: SecretStr) -> SecretStr:
        value = secret.get_secret_value()
        if value and urlsplit(value).scheme not in {"http", "https"}:
            raise ValueError("YTDLP_UPDATE_INDEX_URL must be an http(s):// URL")
        return secret

    @model_validator(mode="after")
    def _check_key_secret(self) -> Settings:
        secret = self.api_key_secret.get_secret_value()
        if secret and len(secret) < 32:
            raise ValueError("API_KEY_SECRET must be at least 32 characters long")
        if not secret and self.effective_environment is Environment.AWS:
            raise ValueError("API_KEY_SECRET must be set when running on AWS")
        return self

    @field_validator("otel_traces_exporter", mode="before")
    @classmethod
    def _known_exporter(cls, value: object) -> object:
        name = str(value).strip().lower() or "otlp"
        if name not in TRACES_EXPORTERS:
            raise ValueError(
                f"OTEL_TRACES_EXPORTER={value!r} is not one of {', '.join(TRACES_EXPORTERS)}"
            )
        return name

    @field_validator("otel_exporter_otlp_endpoint")
    @classmethod
    def _endpoint_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL")
        return value.rstrip("/")

    @property
    def tracing_on(self) -> bool:
        """Whether this process exports spans: asked for, and not vetoed by OTEL_*."""
        return (
            self.tracing_enabled
            and not self.otel_sdk_disabled
            and self.otel_traces_exporter != "none"
        )

    @model_validator(mode="after")
    def _check_storage(self) -> Settings:
        if self.effective_storage is StorageBackend.S3 and not self.s3_bucket_name:
            raise ValueError(
                "S3 storage is selected (ENVIRONMENT=aws, running on ECS, or STORAGE_BACKEND=s3) "
                "but S3_BUCKET_NAME is not set"
            )
        return self

    @property
    def effective_environment(self) -> Environment:
        """ENVIRONMENT when given; otherwise aws on ECS, else localhost."""
        if "environment" in self.model_fields_set or not self.ecs_container_metadata_uri:
            return self.environment
        return Environment.AWS

    @property
    def effective_storage(self) -> StorageBackend:
        if self.storage_backend is not StorageBackend.AUTO:
            return self.storage_backend
        if self.effective_environment is Environment.AWS:
            return StorageBackend.S3
        return StorageBackend.LOCAL

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or self.redis_url

    @property
    def max_file_size_bytes(self) -> int:
        return int(self.max_file_size_gb * 1024**3)


def _is_http_proxy(value: str) -> bool:
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.scheme == "http" and bool(parts.hostname) and bool(port)


def _check_impersonation_target(target: str) -> None:
    """Fail at start-up, not on the first download, when yt-dlp cannot impersonate `target`."""
    # yt-dlp is imported only when impersonation is asked for: most processes never need it.
    import yt_dlp.networking  # noqa: F401  (registers yt-dlp's request handlers)
    from yt_dlp.networking.common import _REQUEST_HANDLERS
    from yt_dlp.networking.impersonate import ImpersonateRequestHandler, ImpersonateTarget

    try:
        wanted = ImpersonateTarget.from_str(target)
    except ValueError:
        raise ValueError(
            f"YTDLP_IMPERSONATE={target!r} is not a target such as chrome, chrome-131 or safari"
        ) from None
    supported = [
        known
        for handler in _REQUEST_HANDLERS.values()
        if issubclass(handler, ImpersonateRequestHandler)
        for known in handler.supported_targets
    ]
    if not supported:
        raise ValueError(
            "YTDLP_IMPERSONATE needs the curl_cffi package, which is not installed "
            "(pip install -r requirements.txt)"
        )
    if not any(wanted in known for known in supported):
        names = ", ".join(sorted({str(known.client) for known in supported if known.client}))
        raise ValueError(f"YTDLP_IMPERSONATE={target!r} is not a target yt-dlp knows ({names})")


@lru_cache
def get_settings() -> Settings:
    return Settings()
