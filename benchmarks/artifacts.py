"""Artifact throughput through nbflow's store against raw s3fs, on one local S3 server.

    python benchmarks/artifacts.py            # 1 MB x 200 (files and artifact folders)

"verified get" downloads an artifact folder and checks it against its producer's digest, as
a step's inputs are checked, against a plain folder download with raw s3fs.
    python benchmarks/artifacts.py --large    # also 500 MB x 1, with peak memory

A moto S3 server runs in a separate process on 127.0.0.1, so that its memory is not counted.
Each case alternates raw s3fs and nbflow rounds on the same server and reports the median;
the large transfers each run in a fresh process, which reports its peak memory growth.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

BUCKET = "bench"
MB = 2**20

CHILD = r"""
import json, resource, sys, time
op, path = sys.argv[1], sys.argv[2]
import s3fs
from nbflow.artifacts import ArtifactStore
fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
store = ArtifactStore("s3://bench/nbflow")
fs.ls("bench"), store.exists("warm-up")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if op == "raw-put":
    fs.put_file(path, "bench/raw/big.bin")
elif op == "raw-get":
    fs.get_file("bench/raw/big.bin", path)
elif op == "nbflow-put":
    store.upload(path, "big.bin")
else:
    store.download("big.bin", path)
seconds = time.perf_counter() - start
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
print(json.dumps({"seconds": seconds, "peak_mb": grown / 1024}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    """moto's S3 server in its own process; returns it and its endpoint once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).read()
            return proc, endpoint
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the moto server did not start")


def reset(endpoint: str) -> None:
    """Empty the server and make the bucket again."""
    import s3fs

    req = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=30).read()
    s3fs.S3FileSystem(skip_instance_cache=True).mkdir(BUCKET)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def small_inputs(folder: Path, count: int, size: int) -> tuple[list[Path], list[Path]]:
    """``count`` files of ``size`` bytes, and as many artifact folders (data + nbflow.json)."""
    files, dirs = [], []
    for i in range(count):
        data = os.urandom(size)
        f = folder / "files" / f"f{i}.bin"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)
        d = folder / "dirs" / f"a{i}"
        d.mkdir(parents=True)
        (d / "data.bin").write_bytes(data)
        (d / "nbflow.json").write_text('{"format": "bytes", "type": "builtins.bytes"}')
        files.append(f)
        dirs.append(d)
    return files, dirs


def small_round(files: list[Path], dirs: list[Path], out: Path) -> dict[str, float]:
    """One round of every small case: seconds per case, raw s3fs and nbflow taking turns
    artifact by artifact, so that both see the same load on the machine."""
    import s3fs

    from nbflow.artifacts import ArtifactStore

    fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
    store = ArtifactStore(f"s3://{BUCKET}/nbflow")
    r = f"{BUCKET}/raw"
    pairs: dict[str, tuple[Callable[[int], object], Callable[[int], object]]] = {
        "file put": (
            lambda i: fs.put_file(str(files[i]), f"{r}/f{i}"),
            lambda i: store.upload(files[i], f"f{i}"),
        ),
        "file get": (
            lambda i: fs.get_file(f"{r}/f{i}", str(out / f"r{i}")),
            lambda i: store.download(f"f{i}", out / f"n{i}"),
        ),
        "folder put": (
            lambda i: fs.put(str(dirs[i]), f"{r}/a{i}", recursive=True),
            lambda i: store.upload(dirs[i], f"a{i}/"),
        ),
        "folder get": (
            lambda i: fs.get(f"{r}/a{i}/", str(out / f"ra{i}"), recursive=True),
            lambda i: store.download(f"a{i}/", out / f"na{i}"),
        ),
    }
    try:  # what a step's input costs with its digest checked (this nbflow has it)
        from nbflow.artifacts.verify import fetch_verified
        from nbflow.digest import digest_path
    except ImportError:
        pass
    else:
        digests = [digest_path(d) for d in dirs]  # what the producer recorded
        pairs["verified get"] = (
            lambda i: fs.get(f"{r}/a{i}/", str(out / f"rv{i}"), recursive=True),
            lambda i: fetch_verified(store, f"a{i}/", digests[i], out / f"nv{i}", "input"),
        )
    seconds: dict[str, float] = {}
    for case, (raw, ours) in pairs.items():
        seconds[f"raw {case}"] = seconds[f"nbflow {case}"] = 0.0
        for i in range(len(files)):
            seconds[f"raw {case}"] += timed(lambda: raw(i))  # noqa: B023
            seconds[f"nbflow {case}"] += timed(lambda: ours(i))  # noqa: B023
    return seconds


def small_case(endpoint: str, count: int, size_mb: float, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files, dirs = small_inputs(Path(tmp), count, int(size_mb * MB))
        results: dict[str, list[float]] = {}
        for _ in range(rounds):
            reset(endpoint)
            out = Path(tempfile.mkdtemp(dir=tmp))
            for case, seconds in small_round(files, dirs, out).items():
                results.setdefault(case, []).append(seconds)
    total_mb = count * size_mb
    print(f"\n{count} x {size_mb:g} MB, median of {rounds} rounds")
    print(f"{'case':<20} {'raw s3fs':>12} {'nbflow':>12} {'nbflow/raw':>11}")
    for what in ("file put", "file get", "folder put", "folder get", "verified get"):
        if f"raw {what}" not in results:
            continue
        raw = statistics.median(results[f"raw {what}"])
        ours = statistics.median(results[f"nbflow {what}"])
        print(
            f"{what:<20} {total_mb / raw:8.1f} MB/s {total_mb / ours:8.1f} MB/s {raw / ours:10.0%}"
        )


def large_case(endpoint: str, size_mb: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "big.bin"
        with open(src, "wb") as f:
            for _ in range(size_mb):
                f.write(os.urandom(MB))
        reset(endpoint)
        rows = {}
        for op in ("raw-put", "nbflow-put", "raw-get", "nbflow-get"):
            path = src if op.endswith("put") else Path(tmp) / f"{op}.bin"
            done = subprocess.run(
                [sys.executable, "-c", CHILD, op, str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            rows[op] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\n1 x {size_mb} MB, one fresh process per transfer")
    print(
        f"{'case':<12} {'raw s3fs':>12} {'peak':>9} {'nbflow':>12} {'peak':>9} {'nbflow/raw':>11}"
    )
    for what in ("put", "get"):
        raw, ours = rows[f"raw-{what}"], rows[f"nbflow-{what}"]
        print(
            f"{what:<12} {size_mb / raw['seconds']:8.1f} MB/s {raw['peak_mb']:6.0f} MB "
            f"{size_mb / ours['seconds']:8.1f} MB/s {ours['peak_mb']:6.0f} MB "
            f"{raw['seconds'] / ours['seconds']:10.0%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="small artifacts (default 200)")
    parser.add_argument("--size-mb", type=float, default=1.0, help="their size (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the small case")
    parser.add_argument("--large", action="store_true", help="also one large artifact")
    parser.add_argument("--large-mb", type=int, default=500, help="its size (default 500)")
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    proc, endpoint = start_server()
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        small_case(endpoint, args.count, args.size_mb, args.rounds)
        if args.large:
            large_case(endpoint, args.large_mb)
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
