"""Fetch the web assets the pages load (Swagger UI, ReDoc, axe-core) from the npm registry.

`python -m app.web.vendor` reads the lock, `vendor.json`: npm packages pinned to exact
versions, each with its tarball URL, the registry's `integrity` (sha512) and the files to
take from it with their sha256. It downloads each tarball, refuses it unless its bytes match
the integrity, and writes only the listed files under `static/vendor/<package>/`. A stamp
makes a second run with the same lock do nothing, offline. `--check` compares the files on
disk with the lock. `--pin NAME@VERSION` adds or moves a package in the lock (maintainers).

The standard library only, so that it runs before any pip install (the image's build stage).
Set NPM_REGISTRY to fetch from a mirror instead of registry.npmjs.org.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

HERE = Path(__file__).resolve().parent
LOCK = HERE / "vendor.json"
VENDOR_DIR = HERE / "static" / "vendor"
STAMP_NAME = ".vendor-stamp"
DEFAULT_REGISTRY = "https://registry.npmjs.org"
TIMEOUT_SECONDS = 60
MAX_TARBALL_BYTES = 64 * 1024 * 1024


class VendorError(Exception):
    """A tarball, a lock entry or a vendored file is not what the lock says."""


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    tarball: str
    integrity: str
    files: dict[str, str]  # path inside the package -> sha256 (hex), "" until recorded

    @classmethod
    def from_lock(cls, entry: Mapping[str, Any]) -> Package:
        package = cls(
            name=str(entry["name"]),
            version=str(entry["version"]),
            tarball=str(entry["tarball"]),
            integrity=str(entry["integrity"]),
            files={str(k): str(v) for k, v in dict(entry["files"]).items()},
        )
        for relative in (package.name, *package.files):
            safe_relative(relative)
        return package

    def to_lock(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "tarball": self.tarball,
            "integrity": self.integrity,
            "files": dict(sorted(self.files.items())),
        }


def safe_relative(name: str) -> PurePosixPath:
    """`name` as a relative path that stays inside its directory, or VendorError."""
    path = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or "\x00" in name
        or path.is_absolute()
        or any(part in ("", ".", "..") for part in name.split("/"))
    ):
        raise VendorError(f"unsafe path {name!r}: it must stay inside its directory")
    return path


def registry_base() -> str:
    return os.environ.get("NPM_REGISTRY", DEFAULT_REGISTRY).rstrip("/")


def tarball_url(package: Package) -> str:
    """The lock's URL, moved to NPM_REGISTRY when that names a mirror."""
    base = registry_base()
    if package.tarball.startswith(DEFAULT_REGISTRY + "/"):
        return base + package.tarball[len(DEFAULT_REGISTRY) :]
    return package.tarball


def fetch(url: str) -> bytes:
    if not url.startswith(("https://", "http://")):
        raise VendorError(f"refusing to fetch {url!r}: only http(s) URLs")
    with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
        body: bytes = response.read(MAX_TARBALL_BYTES + 1)
    if len(body) > MAX_TARBALL_BYTES:
        raise VendorError(f"{url} is over {MAX_TARBALL_BYTES} bytes")
    return body


def verify_integrity(package: Package, tarball: bytes) -> None:
    algorithm, _, expected = package.integrity.partition("-")
    if algorithm != "sha512" or not expected:
        raise VendorError(f"{package.name}: the lock's integrity must be sha512-<base64>")
    actual = base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    if actual != expected:
        raise VendorError(
            f"{package.name}@{package.version}: the tarball does not match the lock's "
            f"integrity (expected sha512-{expected}, got sha512-{actual}); nothing was written"
        )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def extract(package: Package, tarball: bytes) -> dict[str, bytes]:
    """The listed files' bytes, read from the (already verified) tarball in memory."""
    wanted = {str(safe_relative(name)): name for name in package.files}
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member in archive.getmembers():
            # npm tarballs hold one top directory, usually "package/"
            top, _, inside = member.name.partition("/")
            if inside not in wanted or not top:
                continue
            if not member.isfile():
                raise VendorError(f"{package.name}: {member.name} is not a regular file")
            handle = archive.extractfile(member)
            if handle is None:
                raise VendorError(f"{package.name}: cannot read {member.name}")
            found[wanted[inside]] = handle.read()
    missing = sorted(set(package.files) - set(found))
    if missing:
        raise VendorError(f"{package.name}@{package.version}: not in the tarball: {missing}")
    return found


def check_recorded(package: Package, contents: Mapping[str, bytes]) -> None:
    for name, data in contents.items():
        recorded = package.files[name]
        if recorded and sha256(data) != recorded:
            raise VendorError(
                f"{package.name}/{name}: sha256 {sha256(data)} is not the lock's {recorded}"
            )


def write_files(directory: Path, contents: Mapping[str, bytes]) -> None:
    """Each file goes in through a temporary name, so a reader never sees half of one."""
    root = directory.resolve()
    for name, data in contents.items():
        target = (root / safe_relative(name)).resolve()
        if not target.is_relative_to(root):
            raise VendorError(f"unsafe path {name!r}: it must stay inside {root}")
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as temporary:
            temporary.write(data)
        # readable by the service's own user (the image builds as root, runs as another)
        os.chmod(temporary.name, 0o644)
        Path(temporary.name).replace(target)


def load_lock(lock: Path) -> list[Package]:
    document = json.loads(lock.read_text())
    return [Package.from_lock(entry) for entry in document["packages"]]


def save_lock(lock: Path, packages: list[Package]) -> None:
    document = {
        "comment": "Written by `python -m app.web.vendor --pin NAME@VERSION`; see vendor.py.",
        "packages": [package.to_lock() for package in packages],
    }
    lock.write_text(json.dumps(document, indent=2) + "\n")


def lock_digest(lock: Path) -> str:
    return sha256(lock.read_bytes())


def differences(packages: list[Package], vendor_dir: Path) -> list[str]:
    """What on disk differs from the lock: one line per missing or changed file."""
    problems = []
    for package in packages:
        for name, recorded in package.files.items():
            path = vendor_dir / package.name / safe_relative(name)
            if not path.is_file():
                problems.append(f"{package.name}/{name}: missing")
            elif not recorded:
                problems.append(f"{package.name}/{name}: no sha256 in the lock")
            elif sha256(path.read_bytes()) != recorded:
                problems.append(f"{package.name}/{name}: differs from the lock's sha256")
    return problems


def vendor(lock: Path = LOCK, vendor_dir: Path = VENDOR_DIR) -> bool:
    """Fetch what the lock lists; False when the stamp says it is already there."""
    stamp = vendor_dir / STAMP_NAME
    packages = load_lock(lock)
    digest = lock_digest(lock)
    up_to_date = stamp.is_file() and stamp.read_text().strip() == digest
    if up_to_date and not differences(packages, vendor_dir):
        return False
    # Everything is fetched and verified before the first file is written.
    contents = {}
    for package in packages:
        tarball = fetch(tarball_url(package))
        verify_integrity(package, tarball)
        contents[package.name] = extract(package, tarball)
        check_recorded(package, contents[package.name])
    for package in packages:
        write_files(vendor_dir / package.name, contents[package.name])
    stamp.write_text(digest + "\n")
    return True


def pin(lock: Path, spec: str) -> Package:
    """Put NAME@VERSION in the lock, with the registry's tarball, integrity and our sha256s."""
    name, _, version = spec.rpartition("@")
    if not name or not version:
        raise VendorError(f"{spec!r}: expected NAME@VERSION")
    packages = load_lock(lock) if lock.is_file() else []
    previous = next((p for p in packages if p.name == name), None)
    files = list(previous.files) if previous else []
    if not files:
        raise VendorError(f"{name} is not in the lock yet: add it with its files first")
    metadata = json.loads(fetch(f"{registry_base()}/{name}/{version}"))
    dist = metadata["dist"]
    tarball = str(dist["tarball"])
    if tarball.startswith(registry_base() + "/"):
        tarball = DEFAULT_REGISTRY + tarball[len(registry_base()) :]
    draft = Package(name, version, tarball, str(dist["integrity"]), dict.fromkeys(files, ""))
    data = fetch(tarball_url(draft))
    verify_integrity(draft, data)
    found = extract(draft, data)
    pinned = Package(
        name, version, tarball, draft.integrity, {n: sha256(b) for n, b in found.items()}
    )
    save_lock(lock, [pinned if p.name == name else p for p in packages])
    return pinned


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.web.vendor", description=__doc__)
    parser.add_argument("--lock", type=Path, default=LOCK)
    parser.add_argument("--dest", type=Path, default=VENDOR_DIR, help="the vendor directory")
    parser.add_argument("--check", action="store_true", help="compare the files with the lock")
    parser.add_argument("--pin", metavar="NAME@VERSION", help="move a package of the lock")
    args = parser.parse_args(argv)
    try:
        if args.pin:
            pinned = pin(args.lock, args.pin)
            print(f"pinned {pinned.name}@{pinned.version} in {args.lock}")
        elif args.check:
            problems = differences(load_lock(args.lock), args.dest)
            for problem in problems:
                print(problem, file=sys.stderr)
            if problems:
                print("run `make web-assets` to fetch them again", file=sys.stderr)
                return 1
            print("vendored files match the lock")
        elif vendor(args.lock, args.dest):
            print(f"vendored web assets into {args.dest}")
        else:
            print("vendored web assets are up to date")
    except (VendorError, OSError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
