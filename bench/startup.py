#!/usr/bin/env python3
"""Start-up figures for a release build of Tessera.

Measures, on an existing SQLite database (keys already created):
  - time from process start to the first successful discovery response (median of N runs),
  - resident memory (VmRSS) after the server has been idle for a moment,
  - the binary's size.

Usage: bench/startup.py [--runs N] [--binary target/release/tessera]
Build first with `cargo build --release`. Results print as a Markdown table.
"""
import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def first_response_ms(binary, config, port, deadline_s=10.0):
    """Starts the server and polls discovery; returns (ms to first 200, process)."""
    start = time.monotonic()
    proc = subprocess.Popen(
        [binary, "--config", config, "serve"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while time.monotonic() - start < deadline_s:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/.well-known/openid-configuration")
            if conn.getresponse().status == 200:
                return (time.monotonic() - start) * 1000.0, proc
        except OSError:
            time.sleep(0.0005)
    proc.kill()
    raise SystemExit("server did not answer within %.0f s" % deadline_s)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--binary", default="target/release/tessera")
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    if not os.path.exists(binary):
        raise SystemExit(f"{binary} not found: run `cargo build --release` first")

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        config = os.path.join(tmp, "tessera.toml")
        with open(config, "w") as f:
            f.write(
                f'issuer = "http://127.0.0.1:{port}"\n'
                f'listen = "127.0.0.1:{port}"\n'
                f'database_url = "sqlite://{tmp}/tessera.db"\n'
                '[log]\nlevel = "warn"\n'
            )
        # First start creates the database and the keys; it is not measured.
        cold_ms, proc = first_response_ms(binary, config, port, deadline_s=30)
        proc.terminate()
        proc.wait()

        times = []
        for _ in range(args.runs):
            ms, proc = first_response_ms(binary, config, port)
            times.append(ms)
            proc.terminate()
            proc.wait()

        _, proc = first_response_ms(binary, config, port)
        time.sleep(2)
        idle = rss_kib(proc.pid)
        proc.terminate()
        proc.wait()

    size = os.path.getsize(binary)
    print("| figure | value |")
    print("|---|---|")
    print(f"| first start (creates database and keys) to first discovery response | {cold_ms:.1f} ms |")
    print(f"| start to first discovery response, existing database (median of {args.runs}) | {statistics.median(times):.1f} ms |")
    print(f"| same, min / max | {min(times):.1f} / {max(times):.1f} ms |")
    print(f"| idle RSS after 2 s | {idle / 1024:.1f} MiB |")
    print(f"| binary size | {size / 1024 / 1024:.1f} MiB |")


if __name__ == "__main__":
    sys.exit(main())
