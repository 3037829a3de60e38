"""Wheels of yt-dlp and its EJS package, made offline from the installed ones: what a
YTDLP_UPDATE_FIND_LINKS directory holds in the update tests."""

from __future__ import annotations

import base64
import hashlib
import importlib
import re
import zipfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

# A change to the package's files (name relative to the package -> new text from old).
Patch = Callable[[str], str]


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(
    folder: Path,
    *,
    distribution: str,
    package: str,
    version: str,
    patches: dict[str, Patch] | None = None,
) -> Path:
    """A pure-Python wheel of the installed `package`, published as `distribution` at
    `version`, with `patches` applied to some of its files."""
    source = Path(importlib.import_module(package).__file__ or "").parent
    files: dict[str, bytes] = {}
    for path in sorted(source.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            relative = path.relative_to(source).as_posix()
            files[f"{package}/{relative}"] = path.read_bytes()
    for relative, patch in (patches or {}).items():
        name = f"{package}/{relative}"
        files[name] = patch(files[name].decode()).encode()
    project = distribution.replace("-", "_")
    info = f"{project}-{version}.dist-info"
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n"
    ).encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: yds-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [_record_line(name, data) for name, data in files.items()]
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,", ""]).encode()
    wheel = folder / f"{project}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


def with_version(version: str) -> Patch:
    return lambda text: re.sub(r"__version__ = '[^']*'", f"__version__ = '{version}'", text)


def _reversing_blocks(text: str) -> str:
    written = "ctx.stream.write(data_block)"
    assert written in text, "yt-dlp's HTTP downloader changed: update this test fake"
    return text.replace(written, "ctx.stream.write(data_block[::-1])")


# How a build can be broken: it raises when imported, or it downloads wrong bytes.
BREAKAGES: dict[str, dict[str, Patch]] = {
    "import": {"__init__.py": lambda text: text + '\nraise ImportError("this build is broken")\n'},
    "download": {"downloader/http.py": _reversing_blocks},
}


def build_ytdlp(folder: Path, version: str, *, broken: str | None = None) -> None:
    """yt-dlp at `version` and the installed EJS package beside it, broken as `BREAKAGES`
    says when `broken` names one."""
    patches = {"version.py": with_version(version), **BREAKAGES.get(broken or "", {})}
    folder.mkdir(parents=True, exist_ok=True)
    build_wheel(folder, distribution="yt-dlp", package="yt_dlp", version=version, patches=patches)
    ejs = metadata.version("yt-dlp-ejs")
    if not (folder / f"yt_dlp_ejs-{ejs}-py3-none-any.whl").exists():
        build_wheel(folder, distribution="yt-dlp-ejs", package="yt_dlp_ejs", version=ejs)
