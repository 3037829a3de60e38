"""Peak memory of storing a file to S3: our handler against a naive put_object baseline.

Starts moto's S3 server on loopback, writes a sparse test file of each size, and runs each
upload in a fresh Python process, reading its peak resident set (VmHWM) when it ends.

    .venv/bin/python -m benchmarks.storage_memory            # 20 MB and 2 GB
    .venv/bin/python -m benchmarks.storage_memory --sizes-mb 20 200
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Each child reports its peak RSS in kB on its last line of output.
PEAK = "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))"
HANDLER = f"""
import sys
from pathlib import Path
from app.core.config import Settings
from app.storage.s3 import S3StorageHandler
settings = Settings(_env_file=None, storage_backend="s3", s3_bucket_name=sys.argv[1],
                    s3_endpoint_url=sys.argv[2])
copy = Path(sys.argv[3] + ".copy")
copy.hardlink_to(sys.argv[3])  # store() removes its source
S3StorageHandler(settings).store(copy, "bench/handler.bin")
{PEAK}
"""
BASELINE = f"""
import sys, boto3
client = boto3.client("s3", endpoint_url=sys.argv[2], region_name="us-east-1")
with open(sys.argv[3], "rb") as source:
    client.put_object(Bucket=sys.argv[1], Key="bench/baseline.bin", Body=source.read())
{PEAK}
"""
IDLE = f"""
import sys
from app.core.config import Settings
from app.storage.s3 import S3StorageHandler
{PEAK}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def peak_mb(script: str, *args: str) -> tuple[float, float]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"},
    ).stdout
    return int(out.strip().splitlines()[-1]) / 1024, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[20, 2048])
    sizes = parser.parse_args().sizes_mb
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="yds-bench")
    idle, _ = peak_mb(IDLE, "yds-bench", endpoint, "")
    print(f"interpreter with the handler imported, no upload: {idle:.0f} MB")
    print(f"{'file':>8} | {'handler peak':>12} | {'baseline peak':>13} | {'ratio':>5} | time")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for size in sizes:
                path = Path(tmp) / f"{size}mb.bin"
                with path.open("wb") as sparse:
                    sparse.truncate(size * 1024 * 1024)
                ours, ours_s = peak_mb(HANDLER, "yds-bench", endpoint, str(path))
                base, base_s = peak_mb(BASELINE, "yds-bench", endpoint, str(path))
                print(
                    f"{size:>5} MB | {ours:>9.0f} MB | {base:>10.0f} MB | "
                    f"{base / ours:>5.1f} | {ours_s:.1f} s vs {base_s:.1f} s"
                )
                client.delete_objects(
                    Bucket="yds-bench",
                    Delete={
                        "Objects": [{"Key": "bench/handler.bin"}, {"Key": "bench/baseline.bin"}]
                    },
                )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
