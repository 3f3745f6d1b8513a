#!/usr/bin/env python3
"""Sign-in and refresh throughput of a release build of Tessera, on loopback.

A full sign-in is what a new user's browser and the client do together:
  GET /authorize -> GET /login -> POST /login (Argon2id) -> GET /consent -> POST /consent
  -> the code -> POST /token (authorization_code with PKCE; identity, access, refresh token).
A refresh is POST /token with grant_type=refresh_token (rotation: each one consumes the token
and stores a new one; a new identity and access token are signed).

Workers run in threads of this process with keep-alive connections. The server's CPU time is
read from /proc, so the report gives operations per second and per fully used server core;
the machine is shared, so the per-core column is the one to compare across runs.

Usage: bench/signin.py [--binary target/release/tessera] [--seconds 10] [--workers 4]
Build first with `cargo build --release`.
"""
import argparse
import base64
import hashlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
REDIRECT = "https://app.example/cb"
BASIC = "Basic " + base64.b64encode(b"app:app-secret").decode()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_seconds(pid):
    """utime + stime of the process, in seconds (proc(5))."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds():
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    values = [int(v) for v in parts]
    busy = sum(values) - values[3] - values[4]  # minus idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


class Client:
    """One browser: a keep-alive connection and a cookie jar (name -> value)."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies = {}

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = urllib.parse.urlencode(body)
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        for value in response.headers.get_all("Set-Cookie") or []:
            name, rest = value.split("=", 1)
            self.cookies[name] = rest.split(";", 1)[0]
        return response.status, response.headers.get("Location"), data


def local(location):
    parsed = urllib.parse.urlsplit(location)
    return parsed.path + ("?" + parsed.query if parsed.query else "")


def field(html, name):
    return re.search(rf'name="{name}" value="([^"]*)"'.encode(), html).group(1).decode()


def sign_in(port, pushed=None):
    """One full sign-in in a new browser; returns the token response. With `pushed` (a
    function of the connection), the request is pushed first and /authorize gets the query it
    returns (RFC 9126)."""
    c = Client(port)
    query = pushed(c) if pushed else urllib.parse.urlencode({
        "client_id": "app", "redirect_uri": REDIRECT, "response_type": "code",
        "scope": "openid profile offline_access", "state": "s", "nonce": "n",
        "code_challenge": CHALLENGE, "code_challenge_method": "S256",
    })
    status, location, _ = c.request("GET", "/authorize?" + query)
    assert status == 303 and "/login?" in location, (status, location)
    _, _, page = c.request("GET", local(location))
    form = {"interaction": field(page, "interaction"), "csrf": field(page, "csrf"),
            "username": "alice", "password": "alice-password", "action": "login"}
    status, location, _ = c.request("POST", "/login", form)
    assert status == 303 and "/consent?" in location, (status, location)
    _, _, page = c.request("GET", local(location))
    form = {"interaction": field(page, "interaction"), "csrf": field(page, "csrf"),
            "action": "allow"}
    status, location, _ = c.request("POST", "/consent", form)
    assert status == 303 and location.startswith(REDIRECT), (status, location)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    status, _, body = c.request("POST", "/token", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER}, {"Authorization": BASIC})
    assert status == 200, body
    c.conn.close()
    return json.loads(body)


def peer_sign_in(port, pushed=None):
    """One full sign-in at oidc-provider through its development login and consent pages
    (which check no password), then the code for tokens; with `pushed`, as sign_in."""
    c = Client(port)

    def path(location):
        return local(location) if location.startswith("http") else location

    query = urllib.parse.urlencode({
        "client_id": "app", "redirect_uri": REDIRECT, "response_type": "code",
        # oidc-provider grants offline_access only with prompt=consent (OIDC Core §11).
        "scope": "openid profile offline_access", "prompt": "consent", "state": "s",
        "nonce": "n", "code_challenge": CHALLENGE, "code_challenge_method": "S256"})
    if pushed:
        query = pushed(c)
    status, location, _ = c.request("GET", "/auth?" + query)
    for _ in range(10):
        if location and location.startswith(REDIRECT):
            break
        status, next_location, page = c.request("GET", path(location))
        if status in (302, 303):
            location = next_location
            continue
        action = re.search(rb'<form[^>]*action="([^"]+)"', page).group(1).decode()
        fields = {k.decode(): v.decode() for k, v in
                  re.findall(rb'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)}
        if b'name="login"' in page:
            fields.update(login="alice", password="alice-password")
        status, location, _ = c.request("POST", path(action), fields)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    status, _, body = c.request("POST", "/token", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER}, {"Authorization": BASIC})
    assert status == 200, body
    c.conn.close()
    return json.loads(body)


def run(workers, seconds, job):
    """Runs `job(state)` in `workers` threads for `seconds`; returns (count, latencies)."""
    stop = time.monotonic() + seconds
    counts, latencies, errors = [0] * workers, [[] for _ in range(workers)], []

    def worker(i):
        state = {}
        while time.monotonic() < stop:
            t = time.monotonic()
            try:
                job(state)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))
                return
            latencies[i].append(time.monotonic() - t)
            counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit("a worker failed: " + errors[0])
    return sum(counts), sorted(x for l in latencies for x in l)


def measure(name, pid, workers, seconds, job, rows):
    cpu0, m0, t0 = cpu_seconds(pid), machine_cpu_seconds(), time.monotonic()
    count, lat = run(workers, seconds, job)
    elapsed = time.monotonic() - t0
    server_cpu = cpu_seconds(pid) - cpu0
    other_cpu = machine_cpu_seconds() - m0 - server_cpu
    pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))] * 1000 if lat else float("nan")
    rows.append((name, count / elapsed, count / server_cpu if server_cpu else float("nan"),
                 pct(0.5), pct(0.99), server_cpu / elapsed, other_cpu / elapsed))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/tessera")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "tessera.toml")
        with open(config, "w") as f:
            f.write(f"""issuer = "http://127.0.0.1:{port}"
listen = "127.0.0.1:{port}"
database_url = "sqlite://{tmp}/tessera.db"
[log]
level = "warn"
[login]
max_failures_per_account = 1000000
[[clients]]
client_id = "app"
secrets = ["app-secret"]
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["{REDIRECT}"]
allowed_scopes = ["openid", "profile", "offline_access"]
[[users]]
username = "alice"
password = "alice-password"
claims = {{ name = "Alice" }}
""")
        server = subprocess.Popen([args.binary, "--config", config, "serve"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                    conn.request("GET", "/readyz")
                    if conn.getresponse().status == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.05)
            sign_in(port)  # warm-up (and the dummy hash, keys, caches)
            rows = []
            measure("full sign-in", server.pid, args.workers, args.seconds,
                    lambda state: sign_in(port), rows)

            def refresh(state):
                if "client" not in state:
                    state["client"] = Client(port)
                    state["token"] = sign_in(port)["refresh_token"]
                status, _, body = state["client"].request("POST", "/token", {
                    "grant_type": "refresh_token", "refresh_token": state["token"]},
                    {"Authorization": BASIC})
                assert status == 200, body
                state["token"] = json.loads(body)["refresh_token"]

            measure("refresh", server.pid, args.workers, args.seconds, refresh, rows)
        finally:
            server.terminate()
            server.wait()
    print(f"| operation | per second | per server core-second | p50 ms | p99 ms | server cores used | other cores used |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, rate, per_core, p50, p99, used, other in rows:
        print(f"| {name} | {rate:,.0f} | {per_core:,.0f} | {p50:.1f} | {p99:.1f} | {used:.2f} | {other:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
