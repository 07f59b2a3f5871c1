"""What the store costs per photo: the worker's reads and writes of one job's files (a 250 KB
input read, a 1 MB result written and read back), in a directory and in a bucket of moto's S3
server (standing in for compose's MinIO), wall time and CPU of both ends.

    .venv/bin/python -m bench.storage --photos 40
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from bench.services import process_cpu
from core.storage import DirectoryStore, Store, input_key, output_key
from tests.support.s3 import moto_server, new_bucket

INPUT_BYTES, OUTPUT_BYTES = 250_000, 1_000_000


def one_photo(store: Store, n: int, data_in: bytes, data_out: bytes) -> None:
    job = f"{n:032x}"
    store.put(input_key(job), data_in)  # the API's upload
    store.get(input_key(job))  # the worker's download
    store.put(output_key(job, "png"), data_out)  # the worker's upload
    store.get(output_key(job, "png"))  # the client's download


def measure(store: Store, photos: int, server_pid: int | None) -> tuple[float, float, float]:
    """Per photo: wall ms, this process's CPU ms, the server's CPU ms."""
    data_in, data_out = os.urandom(INPUT_BYTES), os.urandom(OUTPUT_BYTES)
    for n in range(3):
        one_photo(store, n, data_in, data_out)
    wall, cpu = time.perf_counter(), time.process_time()
    server = process_cpu(server_pid) if server_pid else 0.0
    for n in range(photos):
        one_photo(store, n, data_in, data_out)
    server = (process_cpu(server_pid) - server) if server_pid else 0.0
    return ((time.perf_counter() - wall) * 1000 / photos, (time.process_time() - cpu) * 1000 / photos,
            server * 1000 / photos)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=40)
    args = parser.parse_args()
    print(f"per photo ({INPUT_BYTES // 1000} KB in, {OUTPUT_BYTES // 1000} KB out, each written and read), "
          f"mean of {args.photos}:")
    print("| store | wall ms | client CPU ms | server CPU ms |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as directory:
        wall, cpu, _ = measure(DirectoryStore(directory), args.photos, None)
        print(f"| directory | {wall:.1f} | {cpu:.1f} | - |")
        with moto_server(Path(directory) / "moto.log") as endpoint:
            port = endpoint.rsplit(":", 1)[1]
            pid = int(subprocess.run(["pgrep", "-f", f"moto_server -H 127.0.0.1 -p {port}"], capture_output=True,
                                     text=True, check=True).stdout.split()[0])
            wall, cpu, server = measure(new_bucket(endpoint), args.photos, pid)
            print(f"| S3 (moto_server) | {wall:.1f} | {cpu:.1f} | {server:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
