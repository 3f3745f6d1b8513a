"""Rows of bench/compare.py for observability: what recording metrics costs token issuance
(Tessera with `[metrics] enabled = false` beside the same server with metrics on, alternated so
that the machine's noise falls on both), and what one `/metrics` scrape costs the server."""
import sys
import time
import urllib.request

import signin  # noqa: E402  (bench/signin.py: CPU readers)

ROW = "client_credentials ES256, metrics off"


def overhead_rows(on, off, case, seconds, connections, tmp, wrk, rounds=2):
    """on, off: Tessera servers with metrics on and off; case: (path, body, auth). Each
    connection count is measured `rounds` times per server, alternating. Returns
    ({row label: {"tessera": figures of the server with metrics off}},
     {connections: (per-core on, per-core off)})."""
    path, body, auth = case
    rows, pairs = {}, {}
    for c in connections:
        runs = {"on": [], "off": []}
        for _ in range(rounds):
            for name, server in (("off", off), ("on", on)):
                runs[name].append(wrk(server, path, seconds, c, body, auth, tmp))
        mean = {k: sum(r["per_core"] for r in v) / len(v) for k, v in runs.items()}
        pairs[c] = (mean["on"], mean["off"])
        last = runs["off"][-1]
        rows[f"{ROW}, {c} conn"] = {"tessera": dict(last, per_core=mean["off"])}
        print(f"  metrics on {mean['on']:,.0f}, off {mean['off']:,.0f} per core at {c} conn "
              f"({1 - mean['on'] / mean['off']:+.1%} with metrics)", file=sys.stderr)
    return rows, pairs


def scrape_cost(server, scrapes=200):
    """CPU µs of the server and wall ms per `/metrics` scrape, and the exposition's size and
    number of samples, after the runs filled it."""
    url = server.base + "/metrics"
    pid = server.proc.pid
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read()
    cpu0, t0 = signin.cpu_seconds(pid), time.monotonic()
    for _ in range(scrapes):
        with urllib.request.urlopen(url, timeout=10) as r:
            r.read()
    wall = (time.monotonic() - t0) / scrapes
    cpu = (signin.cpu_seconds(pid) - cpu0) / scrapes
    samples = sum(1 for line in text.decode().splitlines() if line and not line.startswith("#"))
    return {"cpu_us": cpu * 1e6, "wall_ms": wall * 1e3, "bytes": len(text), "samples": samples}


def report(pairs, scrape):
    """The lines of the results file."""
    parts = ", ".join(f"{(1 - on / off):+.1%} at {c} connections" for c, (on, off) in
                      pairs.items())
    return [
        f"Metrics (`/metrics`, Prometheus): client_credentials ES256 per Tessera core with "
        f"metrics on against the same server with `[metrics] enabled = false`, alternated "
        f"runs: {parts} (a drop is positive; target: at most 5%).",
        f"One `/metrics` scrape after the runs: {scrape['cpu_us']:,.0f} µs of server CPU, "
        f"{scrape['wall_ms']:.2f} ms, {scrape['bytes']:,} bytes, {scrape['samples']} samples.",
    ]


def main():
    """`python3 bench/observe.py [--seconds 8] [--no-build]`: only these rows, against the
    release build (built first unless --no-build), printed."""
    import argparse
    import os
    import tempfile

    import compare  # noqa: E402  (bench/compare.py: servers and wrk)

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", default="8,32")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    compare.ensure_tools(not args.no_build)
    connections = [int(c) for c in args.connections.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        on = compare.tessera(tmp, "ES256")
        off = compare.tessera(tmp, "ES256", "[metrics]\nenabled = false\n", "-no-metrics")
        try:
            case = ("/token", "grant_type=client_credentials&scope=api1.read&resource=urn%3Aapi1",
                    compare.basic("machine", "machine-secret"))
            _, pairs = overhead_rows(on, off, case, args.seconds, connections, tmp, compare.wrk)
            scrape = scrape_cost(on)
        finally:
            on.stop()
            off.stop()
    print(f"{os.cpu_count()} cores")
    print("\n".join(report(pairs, scrape)))


if __name__ == "__main__":
    main()
