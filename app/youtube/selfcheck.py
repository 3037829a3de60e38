"""The check a newly installed yt-dlp must pass before it is used: run as a script in a
child process whose PYTHONPATH starts with the candidate's directory, so whatever the
candidate breaks stays in the child.

`python selfcheck.py <candidate directory> <expected version>` imports yt_dlp and
yt_dlp_ejs, checks they come from the candidate at the expected version, and downloads a
small file from a server of its own on the loopback interface through yt-dlp's normal
path (format selection, HTTP downloader, rename), comparing the bytes, and loads the
YouTube extractor. It prints the
version on success; on failure it exits non-zero with the reason as its last line.

It imports nothing of ours: `app` would load the service's settings and yt-dlp with them.
"""

from __future__ import annotations

import hashlib
import http.server
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

PAYLOAD = hashlib.sha256(b"yds self-check").digest() * 2048  # 64 KiB


class _Payload(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _check_origin(module: Any, candidate: Path) -> None:
    origin = Path(module.__file__).resolve()
    if not origin.is_relative_to(candidate):
        raise RuntimeError(f"{module.__name__} was loaded from {origin.parent}, not the candidate")


def _download(work_dir: Path) -> bytes:
    import yt_dlp

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Payload)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/check.mp4"
    info = {
        "id": "selfcheck",
        "title": "self-check",
        "extractor": "generic",
        "extractor_key": "Generic",
        "webpage_url": url,
        "formats": [
            {"format_id": "0", "url": url, "ext": "mp4", "vcodec": "h264", "acodec": "aac"}
        ],
    }
    options = {
        "outtmpl": str(work_dir / "%(id)s.%(ext)s"),
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "cachedir": False,
        "ignoreconfig": True,
    }
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            ydl.process_ie_result(info, download=True)
    finally:
        server.shutdown()
    return (work_dir / "selfcheck.mp4").read_bytes()


def check(candidate: Path, expected_version: str) -> str:
    import yt_dlp
    import yt_dlp.version
    import yt_dlp_ejs

    _check_origin(yt_dlp, candidate)
    _check_origin(yt_dlp_ejs, candidate)
    version = str(yt_dlp.version.__version__)
    if version != expected_version:
        raise RuntimeError(f"yt-dlp reports version {version}, expected {expected_version}")
    with tempfile.TemporaryDirectory(prefix="yds-selfcheck-") as work_dir:
        if _download(Path(work_dir)) != PAYLOAD:
            raise RuntimeError("the downloaded file differs from what was served")
    # What the service exists for: the YouTube extractor loads.
    yt_dlp.YoutubeDL({"quiet": True, "ignoreconfig": True}).get_info_extractor("Youtube")
    return version


def main(argv: list[str]) -> int:
    try:
        print(check(Path(argv[1]).resolve(), argv[2]))
    except BaseException as exc:  # anything the candidate raises, even SystemExit, fails it
        print(f"{type(exc).__name__}: {exc}".replace("\n", " "), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
