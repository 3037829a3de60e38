"""`yds subscriptions`: follow a channel or playlist (add, list, show, pause, resume, check,
remove) and its podcast feed (feed enable, feed revoke), through /api/v1/subscriptions."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from app.client import progress
from app.client.api import DEFAULT_API_URL, ApiClient, ExitCode
from app.client.commands import ApiKey, ApiUrl, Json, comma_list, request_body
from app.client.output import emit, expected_errors, stderr, stdout

subscriptions_app = typer.Typer(
    help="Follow channels and playlists: new uploads are downloaded on every check.",
    no_args_is_help=True,
)
feed_app = typer.Typer(
    help="A subscription's podcast feed (RSS): enable it (a new URL) or revoke it.",
    no_args_is_help=True,
)
subscriptions_app.add_typer(feed_app, name="feed")

SubscriptionId = Annotated[
    str, typer.Argument(metavar="SUBSCRIPTION", help="A subscription id or its unique start.")
]


@subscriptions_app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="A channel (@handle, /channel/UC…) or playlist URL.")],
    name: Annotated[str | None, typer.Option(help="A name to list it by.")] = None,
    quality: Annotated[str | None, typer.Option(help="best, worst, 2160p … 360p.")] = None,
    audio_only: Annotated[bool, typer.Option(help="Keep only the audio.")] = False,
    audio_format: Annotated[str | None, typer.Option(help="mp3, m4a, wav, flac, opus.")] = None,
    output_format: Annotated[
        str | None, typer.Option("--format", help="Container: mp4, webm or mkv.")
    ] = None,
    subs: Annotated[str | None, typer.Option(help='Subtitle languages: "en,es" or "all".')] = None,
    transcript_only: Annotated[bool, typer.Option(help="Only the transcript.")] = False,
    after: Annotated[
        str | None,
        typer.Option(help='Only uploads on or after a date ("2025-01-01") or within "30 days".'),
    ] = None,
    shorts: Annotated[bool, typer.Option("--shorts", help="Include shorts.")] = False,
    live: Annotated[bool, typer.Option("--live", help="Include live streams.")] = False,
    title_include: Annotated[
        str | None, typer.Option(help="Only titles matching this regular expression.")
    ] = None,
    title_exclude: Annotated[
        str | None, typer.Option(help="Skip titles matching this regular expression.")
    ] = None,
    min_duration: Annotated[int | None, typer.Option(min=0, help="Seconds, at least.")] = None,
    max_duration: Annotated[int | None, typer.Option(min=0, help="Seconds, at most.")] = None,
    max_per_check: Annotated[
        int | None, typer.Option(min=1, help="Download at most N new videos a check.")
    ] = None,
    interval: Annotated[
        int | None, typer.Option(min=1, help="Minutes between checks (default 60).")
    ] = None,
    backfill: Annotated[
        int | None,
        typer.Option(min=0, help="Also download the N latest existing uploads (default 0)."),
    ] = None,
    keep_last: Annotated[
        int | None, typer.Option(min=1, help="Keep only the files of the N newest downloads.")
    ] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Add it paused.")] = False,
    priority: Annotated[
        str | None,
        typer.Option(help="low, normal or high: the priority of its downloads (default normal)."),
    ] = None,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Subscribe to a channel or playlist; only what is given is sent (the API's defaults)."""
    options = request_body(
        quality=quality,
        audio_only=audio_only or None,
        audio_format=audio_format,
        output_format=output_format,
        subtitle_languages=comma_list(subs),
        transcript_only=transcript_only or None,
    )
    filters = request_body(
        uploaded_after=after,
        include_shorts=shorts or None,
        include_live=live or None,
        title_include=title_include,
        title_exclude=title_exclude,
        min_duration=min_duration,
        max_duration=max_duration,
        max_per_check=max_per_check,
    )
    body = request_body(
        url=url,
        name=name,
        options=options or None,
        filters=filters or None,
        check_interval_minutes=interval,
        backfill=backfill,
        keep_last=keep_last,
        paused=paused or None,
        priority=priority,
    )
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        created = api.subscribe(body)
    emit(created, as_json, lambda: _print_subscription(created, heading="Subscribed."))


@subscriptions_app.command("list")
def list_subscriptions(
    api_url: ApiUrl = DEFAULT_API_URL, api_key: ApiKey = None, as_json: Json = False
) -> None:
    """Your subscriptions and the state of their checks."""
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        found = list(api.subscriptions())
    emit(found, as_json, lambda: _print_table(found))


@subscriptions_app.command("show")
def show(
    subscription_id: SubscriptionId,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """One subscription: its options, filters, last and next check, counts, last error."""
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        found = api.subscription(subscription_id)
    emit(found, as_json, lambda: _print_subscription(found))


@subscriptions_app.command("pause")
def pause(
    subscription_id: SubscriptionId,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Stop checking it until it is resumed."""
    _set_paused(subscription_id, True, api_url, api_key, as_json)


@subscriptions_app.command("resume")
def resume(
    subscription_id: SubscriptionId,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Check it again on its interval."""
    _set_paused(subscription_id, False, api_url, api_key, as_json)


def _set_paused(
    subscription_id: str, paused: bool, api_url: str, api_key: str | None, as_json: bool
) -> None:
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        found = api.update_subscription(subscription_id, {"paused": paused})
    word = "paused" if paused else "resumed"
    emit(found, as_json, lambda: stdout.print(f"{word}  {found['id']}  {_name(found)}"))


@subscriptions_app.command("check")
def check(
    subscription_id: SubscriptionId,
    wait: Annotated[bool, typer.Option(help="Show the check's progress until it ends.")] = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Check it now (a check already running is not started twice: its job is shown)."""
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        started = api.check_subscription(subscription_id)
        if not wait:
            emit(started, as_json, lambda: _print_check(started))
            return
        if not as_json:
            _print_check(started)
        job = _follow(api, api.job(started["job_id"]))
    emit({**started, "job": job}, as_json, lambda: stdout.print(
        f"{job['status']:9}  {job['job_id']}  {progress.label(job)}"))  # fmt: skip
    if job["status"] in ("failed", "canceled"):
        raise typer.Exit(int(ExitCode.JOB_FAILED))


def _follow(api: ApiClient, job: dict[str, Any]) -> dict[str, Any]:
    if job["status"] in progress.TERMINAL:
        return job
    try:
        return progress.follow(api, [job], stderr)[0]
    except KeyboardInterrupt:
        stderr.print("Detached; the check keeps running. Reattach with:")
        stderr.print(f"  yds jobs show {job['job_id']} --watch", markup=False)
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


@subscriptions_app.command("remove")
def remove(
    subscription_id: SubscriptionId,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Unsubscribe; what it downloaded stays in your jobs."""
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        resolved = api.resolve_subscription(subscription_id)
        api.unsubscribe(resolved)
    emit({"removed": resolved}, as_json,
         lambda: stdout.print(f"removed  {resolved}", markup=False))  # fmt: skip


@feed_app.command("enable")
def feed_enable(
    subscription_id: SubscriptionId,
    media: Annotated[str, typer.Option(help="audio or video files in the feed.")] = "audio",
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Publish its podcast feed at a new secret URL, printed once (an older URL stops working)."""
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        feed = api.enable_feed(subscription_id, media)

    def human() -> None:
        typer.echo(feed["url"])
        stderr.print(
            f"The {feed['media']} feed is at this URL, shown only once: anyone with it can "
            "read the feed. `yds subscriptions feed revoke` turns it off."
        )

    emit(feed, as_json, human)


@feed_app.command("revoke")
def feed_revoke(
    subscription_id: SubscriptionId,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Turn the feed off: its URL answers 404 from now on."""
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        resolved = api.resolve_subscription(subscription_id)
        api.revoke_feed(resolved)
    emit({"revoked": resolved}, as_json,
         lambda: stdout.print(f"feed revoked  {resolved}", markup=False))  # fmt: skip


def _name(found: dict[str, Any]) -> str:
    return escape(found.get("name") or found["url"])


def _state(found: dict[str, Any]) -> str:
    if found["paused"]:
        return "paused"
    if found.get("checking"):
        return "checking"
    return "error" if found.get("last_error") else "active"


def _when(value: str | None) -> str:
    return value[:19].replace("T", " ") if value else "-"


def _counts(found: dict[str, Any]) -> str:
    counts = found.get("counts") or {}
    return (
        f"{counts.get('downloaded', 0)} downloaded, {counts.get('failed', 0)} failed, "
        f"{counts.get('pending', 0)} pending, {counts.get('seen', 0)} seen"
    )


def _print_table(found: list[dict[str, Any]]) -> None:
    if not found:
        stdout.print("No subscriptions yet: yds subscriptions add URL")
        return
    table = Table("subscription", "name or URL", "state", "last check", "next check", "counts")
    for item in found:
        table.add_row(
            item["id"], _name(item), _state(item), _when(item.get("last_check_at")),
            "-" if item["paused"] else _when(item.get("next_check_at")), _counts(item),
        )  # fmt: skip
    stdout.print(table)


def _print_subscription(found: dict[str, Any], heading: str | None = None) -> None:
    if heading:
        stdout.print(heading)
    kind = found["kind"] + (f" ({found['tab']})" if found.get("tab") else "")
    rows = [
        ("id", found["id"]),
        ("name", found.get("name") or "-"),
        ("url", found["url"]),
        ("kind", kind),
        ("state", _state(found)),
        ("every", f"{found['check_interval_minutes']} min"),
        ("priority", found.get("priority") or "normal"),
        ("last check", _when(found.get("last_check_at"))),
        ("next check", "-" if found["paused"] else _when(found.get("next_check_at"))),
        ("check job", found.get("last_check_job_id") or "-"),
        ("counts", _counts(found)),
        ("feed", _feed(found)),
        ("downloads", _downloads(found.get("options") or {})),
        ("filters", _pairs(found.get("filters"))),
    ]
    for label, value in rows:
        stdout.print(f"{label:11} {value}", markup=False)
    error = found.get("last_error")
    if error:
        message, code = escape(error["message"]), escape(error["code"])
        stdout.print(f"[red]last error[/red]  {message} [dim]({code})[/dim]")


def _feed(found: dict[str, Any]) -> str:
    feed = found.get("feed") or {}
    return f"on ({feed.get('media')})" if feed.get("enabled") else "off"


def _downloads(options: dict[str, Any]) -> str:
    """The options a person picks (the service fills in every other one)."""
    if options.get("transcript_only"):
        media = "transcript only"
    elif options.get("audio_only"):
        media = f"audio only ({options.get('audio_format') or 'm4a'})"
    else:
        media = f"{options.get('quality') or 'best'} {options.get('output_format') or 'mp4'}"
    return f"{media}, transcripts {_value(options.get('subtitle_languages') or 'none')}"


def _pairs(values: dict[str, Any] | None) -> str:
    """Only what differs from nothing: the options and filters a person chose to set."""
    chosen = {k: v for k, v in (values or {}).items() if v not in (None, False, [], "")}
    return ", ".join(f"{k}={_value(v)}" for k, v in chosen.items()) or "-"


def _value(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def _print_check(started: dict[str, Any]) -> None:
    what = "check started" if started["started"] else "already checking"
    stdout.print(f"{what}  {started['job_id']}", markup=False)
    stderr.print(f"Follow it with: yds jobs show {started['job_id']} --watch", markup=False)
