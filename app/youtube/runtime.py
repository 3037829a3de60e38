"""What this process's yt-dlp can do on YouTube today: its JavaScript runtime and EJS
challenge solver, browser impersonation, and how old it is.

yt-dlp has no public API for these yet; what it does have is read here, in one place,
and every probe answers instead of raising."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from dataclasses import dataclass

import yt_dlp
import yt_dlp.version

# What must come back when the runtime evaluates the solver bundles: the solver's entry.
_SOLVER_PROBE = "\nconsole.log(typeof jsc);\n"
_VERSION_DATE = re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})")


@dataclass(frozen=True)
class JsRuntime:
    name: str | None  # None: yt-dlp found no supported runtime
    version: str | None
    ejs_version: str | None
    expected_ejs_version: str | None
    solver_runs: bool
    error: str | None


def ytdlp_version() -> str:
    return str(yt_dlp.version.__version__)


def release_age_days(version: str, *, today: dt.date) -> int | None:
    """yt-dlp's versions are release dates (2026.10.26, nightlies 2026.11.02.233054)."""
    found = _VERSION_DATE.match(version)
    if found is None:
        return None
    try:
        released = dt.date(*(int(part) for part in found.groups()))
    except ValueError:
        return None
    return (today - released).days


def probe_js_runtime(runtimes: dict[str, dict[str, str]], *, timeout: float) -> JsRuntime:
    """The runtime yt-dlp would pick among `runtimes` (its `js_runtimes` option), and whether
    it evaluates the EJS solver scripts yt-dlp would give it (the yt-dlp-ejs package)."""
    params = {"quiet": True, "no_warnings": True, "js_runtimes": runtimes}
    with yt_dlp.YoutubeDL(params) as ydl:
        found = {
            name: runtime.info
            for name, runtime in ydl._js_runtimes.items()
            if runtime.info is not None and runtime.info.supported
        }
    expected = _expected_ejs_version()
    ejs_version, scripts = _ejs_scripts()
    if not found:
        return JsRuntime(None, None, ejs_version, expected, False, "no supported runtime found")
    name, info = next(iter(found.items()))
    if scripts is None:
        return JsRuntime(name, info.version, None, expected, False, "yt-dlp-ejs is not installed")
    error = _run_solver(info.path, scripts, timeout=timeout)
    return JsRuntime(name, info.version, ejs_version, expected, error is None, error)


def _expected_ejs_version() -> str | None:
    try:
        from yt_dlp.extractor.youtube.jsc._builtin.ejs import EJSBaseJCP
    except ImportError:
        return None
    return str(EJSBaseJCP._SCRIPT_VERSION)


def _ejs_scripts() -> tuple[str | None, str | None]:
    try:
        import yt_dlp_ejs
        import yt_dlp_ejs.yt.solver as solver
    except ImportError:
        return None, None
    scripts = f"{solver.lib()}\nObject.assign(globalThis, lib);\n{solver.core()}{_SOLVER_PROBE}"
    return str(yt_dlp_ejs.version), scripts


def _run_solver(path: str, scripts: str, *, timeout: float) -> str | None:
    # The options yt-dlp runs deno with for the packaged scripts: nothing from the network.
    command = [path, "run", "--ext=js", "--no-code-cache", "--no-prompt", "--no-remote",
               "--no-lock", "--node-modules-dir=none", "--no-config", "--no-npm",
               "--cached-only", "-"]  # fmt: skip
    try:
        done = subprocess.run(
            command, input=scripts, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return f"the solver did not finish in {timeout:g} s"
    except OSError as exc:
        return f"could not start the runtime: {exc.strerror or exc}"
    if done.returncode != 0 or done.stdout.strip() != "function":
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"the solver did not load (exit {done.returncode}): {last[:200]}"
    return None


def impersonation_targets() -> list[str]:
    """The browser targets yt-dlp can impersonate here (empty without curl_cffi)."""
    with yt_dlp.YoutubeDL({"quiet": True, "no_warnings": True}) as ydl:
        return sorted(
            {str(target) for target, _handler in ydl._get_available_impersonate_targets()}
        )
