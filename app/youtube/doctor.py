"""The doctor: every reason YouTube downloads could fail here, checked at once, each with a
status and the fix in this service's own settings and commands (never yt-dlp's flags)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.database import utcnow
from app.jobs.hints import hint_for
from app.youtube import cookies, potoken, reports, routes, runtime, updates
from app.youtube.repository import RecentFailure, recent_youtube_failures
from app.youtube.schemas import CheckStatus, DoctorCheck, DoctorReport, FailureGroup

# A check that takes longer is reported as failing. The EJS solver run alone takes 0.2 s on an
# idle machine and several seconds on a busy one: a working runtime must not read as broken.
CHECK_TIMEOUT_SECONDS = 10.0
RECENT_FAILURES = 20
STALE_AFTER_DAYS = 60  # yt-dlp releases every few weeks; YouTube changes faster
_SEVERITY = {CheckStatus.OK: 0, CheckStatus.OFF: 0, CheckStatus.WARN: 1, CheckStatus.FAIL: 2}


@dataclass
class Finding:
    status: CheckStatus
    detail: str
    fix: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)


Probe = Callable[[], Awaitable[Finding | list[tuple[str, Finding]]]]


async def diagnose(
    *,
    settings: Settings,
    redis: Redis,
    sessions: async_sessionmaker[AsyncSession],
    budget: float = CHECK_TIMEOUT_SECONDS,
) -> DoctorReport:
    """Every check concurrently, each bounded by `budget`: the report never hangs."""
    # What the workers found where they run; the API's own view stands in when none has
    # reported (one worker is enough for every check that needs its host).
    seen: list[reports.WorkerReport] = []
    with anyio.move_on_after(budget / 2):
        seen = await reports.read_reports(redis)
    probes: dict[str, Probe] = {
        "js_runtime": lambda: _js_runtime(settings, seen, budget),
        "yt_dlp": lambda: _in_thread(_ytdlp_age, seen),
        "yt_dlp_update": lambda: _update(settings, redis),
        "impersonation": lambda: _impersonation(settings, seen),
        "po_token_provider": lambda: _po_token(settings, seen, budget),
        "cookies": lambda: _in_thread(_cookies, settings),
        "proxies": lambda: _proxies(settings, redis, budget),
        "youtube_pause": lambda: _pause(settings, redis),
    }
    checks: dict[str, list[DoctorCheck]] = {}
    failures: list[RecentFailure] = []

    async def run(name: str, probe: Probe) -> None:
        checks[name] = await _timed(name, probe, budget)

    async def read_failures() -> None:
        nonlocal failures
        with anyio.move_on_after(budget):
            async with sessions() as session:
                failures = await session.run_sync(recent_youtube_failures, limit=RECENT_FAILURES)

    async with anyio.create_task_group() as group:
        for name, probe in probes.items():
            group.start_soon(run, name, probe)
        group.start_soon(read_failures)
    ordered = [check for name in probes for check in checks[name]]
    worst = max(ordered, key=lambda check: _SEVERITY[check.status]).status
    return DoctorReport(
        status=CheckStatus.OK if _SEVERITY[worst] == 0 else worst,
        checked_at=utcnow(),
        checks=ordered,
        recent_failures=_grouped(failures),
        recent_failures_window=RECENT_FAILURES,
    )


async def _timed(name: str, probe: Probe, budget: float) -> list[DoctorCheck]:
    started = time.perf_counter()
    try:
        with anyio.fail_after(budget):
            found = await probe()
    except TimeoutError:
        found = Finding(CheckStatus.FAIL, f"The check did not answer within {budget:g} s.")
    except Exception as exc:  # a broken check is a finding, not a 500
        found = Finding(CheckStatus.FAIL, f"The check failed: {type(exc).__name__}: {exc}"[:300])
    latency = round((time.perf_counter() - started) * 1000, 1)
    named = found if isinstance(found, list) else [(name, found)]
    return [
        DoctorCheck(
            name=check_name,
            status=finding.status,
            detail=finding.detail,
            fix=finding.fix,
            facts=finding.facts,
            latency_ms=latency,
        )
        for check_name, finding in named
    ]


async def _in_thread(function: Callable[..., Finding], *args: Any) -> Finding:
    return await anyio.to_thread.run_sync(lambda: function(*args), abandon_on_cancel=True)


async def _js_runtime(
    settings: Settings, seen: list[reports.WorkerReport], budget: float
) -> Finding:
    if not seen:
        found = await anyio.to_thread.run_sync(
            lambda: runtime.probe_js_runtime(settings.js_runtimes, timeout=max(budget - 1, 0.5)),
            abandon_on_cancel=True,
        )
        return _in_api(_js_finding(found, settings.ytdlp_js_runtimes))
    return _on_workers(
        seen,
        lambda report: _js_finding(
            runtime.JsRuntime(
                name=report.js_runtime,
                version=report.js_runtime_version,
                ejs_version=report.ejs_version,
                expected_ejs_version=report.ejs_expected,
                solver_runs=report.solver_runs,
                error=report.js_error,
            ),
            tuple(report.js_runtimes),
        ),
    )


def _js_finding(found: runtime.JsRuntime, wanted: tuple[str, ...]) -> Finding:
    facts = {
        "runtime": found.name,
        "runtime_version": found.version,
        "ejs_version": found.ejs_version,
        "ejs_expected": found.expected_ejs_version,
    }
    if found.name is None:
        return Finding(
            CheckStatus.FAIL,
            f"No usable JavaScript runtime among YTDLP_JS_RUNTIMES ({', '.join(wanted)}): "
            "yt-dlp cannot solve YouTube's challenges, so most formats are missing or "
            "downloads fail.",
            "Install the deno package pinned in requirements.txt into the service's "
            "environment (the Docker image and `make run` do), or point YTDLP_JS_RUNTIMES "
            "at an installed runtime (deno 2.3+, node, bun).",
            facts,
        )
    if not found.solver_runs:
        return Finding(
            CheckStatus.FAIL,
            f"{found.name} {found.version} cannot run the EJS challenge solver: {found.error}.",
            "Install the yt-dlp-ejs version pinned beside yt-dlp in requirements.txt "
            "(YTDLP_UPDATE installs both together).",
            facts,
        )
    if (
        found.expected_ejs_version
        and found.ejs_version
        and (found.expected_ejs_version.split(".")[:2] != found.ejs_version.split(".")[:2])
    ):
        return Finding(
            CheckStatus.FAIL,
            f"yt-dlp expects EJS {found.expected_ejs_version}, the installed scripts are "
            f"{found.ejs_version}: yt-dlp will not use them.",
            "Install the yt-dlp-ejs release that matches yt-dlp (YTDLP_UPDATE does).",
            facts,
        )
    return Finding(
        CheckStatus.OK,
        f"{found.name} {found.version} runs the EJS solver {found.ejs_version}.",
        facts=facts,
    )


def _on_workers(
    seen: list[reports.WorkerReport], judge: Callable[[reports.WorkerReport], Finding]
) -> Finding:
    """The worst of the workers' findings, saying how many workers share it."""
    judged = [(report.worker, judge(report)) for report in seen]
    _, worst = max(judged, key=lambda item: _SEVERITY[item[1].status])
    alike = sum(1 for _, found in judged if found.detail == worst.detail)
    where = "every worker" if alike == len(judged) else f"{alike} of {len(judged)} workers"
    facts = {**worst.facts, "workers": {worker: found.status for worker, found in judged}}
    return Finding(worst.status, f"{worst.detail} (on {where})", worst.fix, facts)


def _in_api(found: Finding) -> Finding:
    note = "checked in the API process: no worker has reported"
    return Finding(found.status, f"{found.detail} ({note})", found.fix, found.facts)


def _ytdlp_age(seen: list[reports.WorkerReport]) -> Finding:
    versions = sorted({report.ytdlp_version for report in seen}) or [runtime.ytdlp_version()]
    today = utcnow().date()
    ages = [runtime.release_age_days(version, today=today) for version in versions]
    age = None if None in ages else max(age for age in ages if age is not None)
    facts = {"versions": versions, "age_days": age, "reported_by_workers": bool(seen)}
    running = ", ".join(versions)
    if age is None:
        return Finding(CheckStatus.WARN, f"yt-dlp {running}: release date unknown.", facts=facts)
    detail = f"yt-dlp {running}; the oldest was released {age} days ago."
    if age > STALE_AFTER_DAYS:
        return Finding(
            CheckStatus.WARN,
            detail + " YouTube changes often; old releases break.",
            "Set YTDLP_UPDATE=stable so workers install yt-dlp's fixes without a rebuild, "
            "or deploy an image with a newer yt-dlp.",
            facts,
        )
    if len(versions) > 1:
        return Finding(
            CheckStatus.WARN,
            detail + " Workers run different versions.",
            "A worker restarts on the newest version once it runs no download; one that "
            "stays behind has YTDLP_UPDATE off or cannot write YTDLP_UPDATE_DIR.",
            facts,
        )
    return Finding(CheckStatus.OK, detail, facts=facts)


async def _update(settings: Settings, redis: Redis) -> Finding:
    status = await updates.update_status_anywhere(settings, redis)
    facts = {
        "mode": status.mode,
        "pinned_version": status.pinned_version,
        "active_version": status.active_version,
        "last_attempt_at": status.last_attempt_at and status.last_attempt_at.isoformat(),
        "last_result": status.last_result,
    }
    if status.mode == "off":
        return Finding(
            CheckStatus.OFF,
            f"Updates are off; workers run the pinned yt-dlp {status.pinned_version}.",
            "Set YTDLP_UPDATE=stable (or nightly) to install yt-dlp's fixes without a rebuild.",
            facts,
        )
    if status.last_result is None:
        return Finding(
            CheckStatus.OK,
            f"Updates ({status.mode}) have not run yet; workers run {status.active_version}.",
            facts=facts,
        )
    message = status.last_message or status.last_result
    if status.last_result in {"updated", "up_to_date"}:
        return Finding(CheckStatus.OK, f"Last update: {message}.", facts=facts)
    return Finding(
        CheckStatus.WARN,
        f"The last update failed and workers keep {status.active_version}: {message}.",
        "Read the worker's log for the update; the next attempt runs on "
        "YTDLP_UPDATE_INTERVAL_HOURS.",
        facts,
    )


async def _impersonation(settings: Settings, seen: list[reports.WorkerReport]) -> Finding:
    if not seen:
        targets = await anyio.to_thread.run_sync(runtime.impersonation_targets)
        return _in_api(_impersonation_finding(settings.ytdlp_impersonate, targets))
    return _on_workers(
        seen,
        lambda report: _impersonation_finding(report.impersonate, report.impersonation_targets),
    )


def _impersonation_finding(wanted: str, targets: list[str]) -> Finding:
    facts = {"setting": wanted or None, "available_targets": len(targets)}
    if not targets:
        return Finding(
            CheckStatus.FAIL if wanted else CheckStatus.WARN,
            "Browser impersonation is unavailable: curl_cffi is not installed.",
            "Install the curl_cffi version pinned in requirements.txt.",
            facts,
        )
    if not wanted:
        return Finding(
            CheckStatus.OFF,
            f"Impersonation is off ({len(targets)} browser targets available).",
            "When YouTube answers with bot checks, set YTDLP_IMPERSONATE=chrome.",
            facts,
        )
    return Finding(CheckStatus.OK, f"Requests impersonate {wanted}.", facts=facts)


async def _po_token(settings: Settings, seen: list[reports.WorkerReport], budget: float) -> Finding:
    if not seen:
        status = await potoken.provider_status(settings, timeout=max(budget - 0.5, 0.5))
        return _in_api(_po_token_finding(status))
    return _on_workers(
        seen,
        lambda report: _po_token_finding(
            potoken.ProviderStatus(
                configured=report.pot_provider_configured,
                reachable=report.pot_provider_reachable,
                version=report.pot_provider_version,
                error=report.pot_provider_error,
            )
        ),
    )


def _po_token_finding(status: potoken.ProviderStatus) -> Finding:
    facts = {"configured": status.configured, "version": status.version}
    if not status.configured:
        return Finding(
            CheckStatus.OFF,
            "No PO-token provider is configured.",
            "On cloud addresses YouTube often wants PO tokens: run the provider (docker "
            "compose and the Terraform worker task do) and set YTDLP_POT_PROVIDER_URL "
            "on the workers.",
            facts,
        )
    if not status.reachable:
        return Finding(
            CheckStatus.FAIL,
            f"The PO-token provider does not answer: {status.error}",
            "Start the provider beside the worker, or correct YTDLP_POT_PROVIDER_URL.",
            facts,
        )
    return Finding(
        CheckStatus.OK, f"The PO-token provider answers (version {status.version}).", facts=facts
    )


def _cookies(settings: Settings) -> Finding:
    status = cookies.cookie_status(settings)
    expires = status.expires_at.isoformat() if status.expires_at else None
    facts = {
        "source": status.source,
        "count": status.count,
        "auth_cookies": status.auth_cookies,
        "expires_at": expires,
    }
    upload = "Upload the cookies of a signed-in account: `yds cookies upload FILE`."
    if status.source == "none":
        return Finding(
            CheckStatus.OFF,
            "No cookies: downloads run signed out.",
            "If bot checks persist, " + upload[0].lower() + upload[1:],
            facts,
        )
    if not status.parseable:
        return Finding(
            CheckStatus.FAIL, f"The cookies cannot be read: {status.error}.", upload, facts
        )
    if status.expired:
        return Finding(
            CheckStatus.FAIL, f"The account's cookies expired ({expires}).", upload, facts
        )
    if status.auth_cookies == 0:
        return Finding(
            CheckStatus.WARN, "The cookies hold no YouTube sign-in cookie.", upload, facts
        )
    if status.expiring_soon:
        return Finding(
            CheckStatus.WARN, f"The account's cookies expire soon ({expires}).", upload, facts
        )
    detail = f"{status.count} cookies ({status.source})"
    return Finding(
        CheckStatus.OK, detail + (f", valid until {expires}." if expires else "."), facts=facts
    )


async def _proxies(settings: Settings, redis: Redis, budget: float) -> list[tuple[str, Finding]]:
    urls = dict(routes.route_urls(settings))
    states = await routes.route_states_async(redis, settings)
    found: list[tuple[str, Finding]] = []

    async def check(state: routes.RouteState) -> None:
        proxy_url = urls.get(state.name)
        error = await _reachable(proxy_url, max(budget - 0.5, 0.5))
        found.append((f"route:{state.name}", _route_finding(state, error, proxy_url is None)))

    async with anyio.create_task_group() as group:
        for state in states:
            group.start_soon(check, state)
    order = [state.name for state in states]
    return sorted(found, key=lambda item: order.index(item[0].removeprefix("route:")))


def _route_finding(state: routes.RouteState, error: str | None, direct: bool) -> Finding:
    facts = {
        "resting": state.resting,
        "retry_in_seconds": state.retry_in_seconds,
        "reason": state.reason,
    }
    if error is not None:
        return Finding(
            CheckStatus.FAIL,
            f"{state.name} cannot be reached: {error}.",
            "Correct or remove it in YTDLP_PROXIES.",
            facts,
        )
    if state.resting:
        return Finding(
            CheckStatus.WARN,
            f"{state.name} rests {state.retry_in_seconds} s more after YouTube answered: "
            f"{state.reason or 'a bot check or HTTP 429'}.",
            "Other routes carry the downloads meanwhile; if it keeps resting, replace it in "
            "YTDLP_PROXIES (residential addresses draw fewer bot checks than cloud ones).",
            facts,
        )
    if direct:
        return Finding(
            CheckStatus.OK,
            "Downloads leave from this host's own address; the route is not resting.",
            facts=facts,
        )
    return Finding(CheckStatus.OK, f"{state.name} is reachable and not resting.", facts=facts)


async def _reachable(proxy_url: str | None, budget: float) -> str | None:
    """Whether the proxy takes a TCP connection (the direct route needs none)."""
    if proxy_url is None:
        return None
    parts = urlsplit(proxy_url)
    if parts.hostname is None:
        return "no host in the URL"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with anyio.fail_after(budget):
            stream = await anyio.connect_tcp(parts.hostname, port)
    except TimeoutError:
        return f"no answer within {budget:g} s"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    await stream.aclose()
    return None


async def _pause(settings: Settings, redis: Redis) -> Finding:
    states = await routes.route_states_async(redis, settings)
    resting = [state for state in states if state.resting]
    if states and len(resting) == len(states):
        wait = min(state.retry_in_seconds for state in resting)
        return Finding(
            CheckStatus.FAIL,
            f"YouTube work is paused: every route rests (the first wakes in {wait} s).",
            "Add routes (YTDLP_PROXIES), upload cookies, run the PO-token provider or turn "
            "on YTDLP_IMPERSONATE; queued jobs wait and resume by themselves.",
            {"retry_in_seconds": wait},
        )
    return Finding(CheckStatus.OK, "YouTube work is not paused.", facts={"retry_in_seconds": 0})


def _grouped(failures: list[RecentFailure]) -> list[FailureGroup]:
    counts = Counter(failure.code for failure in failures)
    latest: dict[str, RecentFailure] = {}
    for failure in failures:  # newest first
        latest.setdefault(failure.code, failure)
    return [
        FailureGroup(
            code=code,
            count=count,
            last_at=latest[code].at,
            last_message=latest[code].message,
            hint=hint_for(code),
        )
        for code, count in counts.most_common()
    ]
