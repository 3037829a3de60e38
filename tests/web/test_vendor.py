"""The vendored web assets: on disk as the lock says, and fetched only when the registry's
tarball matches the lock's integrity, into the vendor directory and nowhere else."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.web import vendor

PACKAGE = "fake-widget"
VERSION = "1.2.3"
TARBALL_PATH = f"/{PACKAGE}/-/{PACKAGE}-{VERSION}.tgz"
WIDGET_JS = b"window.widget = 1;\n"


def make_tarball(members: dict[str, bytes], *, links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return buffer.getvalue()


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


class Registry:
    """An npm registry on the loopback that serves whatever tarballs a test puts in it."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                registry.requests.append(self.path)
                body = registry.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    served = Registry()
    monkeypatch.setenv("NPM_REGISTRY", served.url)
    yield served
    served.close()


def write_lock(path: Path, tarball: bytes, files: dict[str, str]) -> Path:
    entry = {
        "name": PACKAGE,
        "version": VERSION,
        # the registry's own URL, as `--pin` writes it: NPM_REGISTRY moves it to the mirror
        "tarball": vendor.DEFAULT_REGISTRY + TARBALL_PATH,
        "integrity": integrity(tarball),
        "files": files,
    }
    path.write_text(json.dumps({"packages": [entry]}))
    return path


def test_the_vendored_files_match_the_lock() -> None:
    packages = vendor.load_lock(vendor.LOCK)
    assert {p.name for p in packages} >= {"swagger-ui-dist", "redoc", "axe-core"}
    for package in packages:
        assert package.integrity.startswith("sha512-")
        for name, recorded in package.files.items():
            path = vendor.VENDOR_DIR / package.name / name
            assert path.is_file(), f"{path} is missing: run `make web-assets`"
            assert hashlib.sha256(path.read_bytes()).hexdigest() == recorded, path
    assert vendor.main(["--check"]) == 0


def test_a_tarball_that_matches_is_extracted_once_then_works_offline(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tarball = make_tarball(
        {"package/dist/widget.js": WIDGET_JS, "package/README.md": b"not wanted\n"}
    )
    registry.files[TARBALL_PATH] = tarball
    sha = hashlib.sha256(WIDGET_JS).hexdigest()
    lock = write_lock(tmp_path / "vendor.json", tarball, {"dist/widget.js": sha})
    dest = tmp_path / "vendor"

    assert vendor.main(["--lock", str(lock), "--dest", str(dest)]) == 0
    assert (dest / PACKAGE / "dist" / "widget.js").read_bytes() == WIDGET_JS
    assert not (dest / PACKAGE / "README.md").exists(), "only the listed files"
    assert registry.requests == [TARBALL_PATH]

    registry.close()  # offline from here on
    assert vendor.main(["--lock", str(lock), "--dest", str(dest)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert vendor.main(["--check", "--lock", str(lock), "--dest", str(dest)]) == 0

    (dest / PACKAGE / "dist" / "widget.js").write_bytes(b"tampered")
    assert vendor.main(["--check", "--lock", str(lock), "--dest", str(dest)]) == 1
    assert f"{PACKAGE}/dist/widget.js: differs" in capsys.readouterr().err


def test_a_tarball_that_does_not_match_the_integrity_is_refused(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    genuine = make_tarball({"package/dist/widget.js": WIDGET_JS})
    registry.files[TARBALL_PATH] = make_tarball({"package/dist/widget.js": b"evil();\n"})
    lock = write_lock(tmp_path / "vendor.json", genuine, {"dist/widget.js": ""})
    dest = tmp_path / "vendor"

    assert vendor.main(["--lock", str(lock), "--dest", str(dest)]) == 1
    error = capsys.readouterr().err
    assert "does not match the lock's integrity" in error
    assert "nothing was written" in error
    assert not any(dest.rglob("*"))


def test_a_file_whose_sha256_differs_from_the_lock_is_refused(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tarball = make_tarball({"package/dist/widget.js": WIDGET_JS})
    registry.files[TARBALL_PATH] = tarball
    lock = write_lock(tmp_path / "vendor.json", tarball, {"dist/widget.js": "0" * 64})
    dest = tmp_path / "vendor"

    assert vendor.main(["--lock", str(lock), "--dest", str(dest)]) == 1
    assert "is not the lock's" in capsys.readouterr().err
    assert not any(dest.rglob("*"))


@pytest.mark.parametrize("name", ["../escape.js", "/etc/escape.js", "dist/../../escape.js"])
def test_a_lock_entry_outside_the_package_directory_is_refused(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    tarball = make_tarball({f"package/{name}": WIDGET_JS})
    registry.files[TARBALL_PATH] = tarball
    lock = write_lock(tmp_path / "vendor.json", tarball, {name: ""})
    dest = tmp_path / "area" / "vendor"

    assert vendor.main(["--lock", str(lock), "--dest", str(dest)]) == 1
    assert "unsafe path" in capsys.readouterr().err
    assert registry.requests == [], "refused before anything is fetched"
    assert not any((tmp_path / "area").rglob("*"))


def test_a_tarball_cannot_write_outside_through_its_member_names_or_links(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "area" / "vendor"
    escaping = make_tarball(
        {"package/../../escape.js": b"evil();\n", "package/dist/widget.js": WIDGET_JS}
    )
    registry.files[TARBALL_PATH] = escaping
    lock = write_lock(tmp_path / "vendor.json", escaping, {"dist/widget.js": ""})
    assert vendor.main(["--lock", str(lock), "--dest", str(dest)]) == 0
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.js"))
    assert written == [Path("area/vendor") / PACKAGE / "dist" / "widget.js"]

    linked = make_tarball({}, links={"package/dist/widget.js": "/etc/passwd"})
    registry.files[TARBALL_PATH] = linked
    lock = write_lock(tmp_path / "vendor.json", linked, {"dist/widget.js": ""})
    assert vendor.main(["--lock", str(lock), "--dest", str(tmp_path / "other")]) == 1
    assert "is not a regular file" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()
