#!/usr/bin/env python3
"""Tessera side by side with a certified peer (oidc-provider 9, Node.js), in one run.

One command: builds Tessera (release), installs the peer (npm, bench/peer) and wrk (Debian) if
missing, starts both servers on loopback ports with equivalent configurations, and measures,
for each server:
  - wrk runs (10 s, keep-alive, a few connection counts) of client_credentials with an ES256
    and an RS256 JWT access token for an API resource, discovery, JWKS, and introspection of a
    reference (opaque) token;
  - complete sign-ins and refreshes with our own small driver (bench/signin.py), and Tessera's
    sign-ins by method: password, password and authenticator app, upstream OpenID provider
    (bench/methods.py);
  - the server process's CPU time during each run (from /proc), so that it reports requests
    per second, requests per fully used server core, server CPU per request, p50/p99 latency,
    and the peak RSS;
and, for Tessera, its latency at half its peak rate for each wrk row, a memory run of one
million client_credentials requests (RSS at start, peak and end), and the Argon2id ceiling
(`cargo bench --bench password_rate`) that its sign-ins are compared with. The machine is shared and noisy: the per-core and ratio columns are the ones to
trust; each row says how much CPU the rest of the machine used meanwhile.

Prints one table and writes it as Markdown to bench/results/DATE.md.

Usage: python3 bench/compare.py [--seconds 10] [--connections 8,32] [--no-build] [--quick]
"""
import argparse
import base64
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import clients  # noqa: E402  (bench/clients.py: devices)
import fapi  # noqa: E402  (bench/fapi.py: PAR and mutual TLS)
import methods  # noqa: E402  (bench/methods.py: sign-ins by method)
import observe  # noqa: E402  (bench/observe.py: the cost of metrics)
import signin  # noqa: E402  (bench/signin.py: CPU readers and the sign-in driver)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def ensure_tools(build):
    if build:
        run(["cargo", "build", "--release", "--bin", "tessera"], cwd=ROOT)
    if shutil.which("wrk") is None:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        if subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "wrk"], env=env).returncode:
            run(sudo + ["apt-get", "update", "-qq"], env=env)
            run(sudo + ["apt-get", "install", "-y", "-qq", "wrk"], env=env)
    peer = os.path.join(HERE, "peer")
    if not os.path.isdir(os.path.join(peer, "node_modules", "oidc-provider")):
        run(["npm", "ci", "--no-audit", "--no-fund"], cwd=peer)


def wait_ready(url, proc):
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"server exited early: {url}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"server not ready: {url}")


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Server:
    def __init__(self, name, cmd, port, env=None, cwd=None):
        self.name, self.port = name, port
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_ready(self.base + "/.well-known/openid-configuration", self.proc)

    def post(self, path, form, auth):
        req = urllib.request.Request(
            self.base + path, data=urllib.parse.urlencode(form).encode(),
            headers={"Authorization": auth,
                     "Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(req, timeout=10) as r:
            import json
            return json.load(r)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def tessera(tmp, alg_first, extra="", tag=""):
    port = signin.free_port()
    algs = '["ES256", "RS256"]' if alg_first == "ES256" else '["RS256", "ES256"]'
    alg_first = alg_first + tag
    config = os.path.join(tmp, f"tessera-{alg_first}.toml")
    with open(config, "w") as f:
        f.write(f"""issuer = "http://127.0.0.1:{port}"
listen = "127.0.0.1:{port}"
database_url = "sqlite://{tmp}/tessera-{alg_first}.db"
[log]
level = "warn"
[keys]
algorithms = {algs}
[[api_scopes]]
name = "api1.read"
[[api_resources]]
name = "urn:api1"
scopes = ["api1.read"]
secrets = ["api1-secret"]
[[clients]]
client_id = "machine"
secrets = ["machine-secret"]
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
[[clients]]
client_id = "ref"
secrets = ["ref-secret"]
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
access_token_type = "reference"
[[clients]]
client_id = "app"
secrets = ["app-secret"]
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["{signin.REDIRECT}"]
allowed_scopes = ["openid", "profile", "offline_access"]
[[clients]]
client_id = "tv"
grant_types = ["urn:ietf:params:oauth:grant-type:device_code"]
allowed_scopes = ["openid"]
[[users]]
username = "alice"
password = "alice-password"
claims = {{ name = "Alice" }}
[login]
max_failures_per_account = 1000000
{extra}""")
    binary = os.path.join(ROOT, "target", "release", "tessera")
    return Server("tessera", [binary, "--config", config, "serve"], port)


def peer(extra_env):
    port = signin.free_port()
    env = dict(os.environ, PORT=str(port), NODE_ENV="production", **extra_env)
    return Server("oidc-provider", ["node", "server.mjs"], port, env=env,
                  cwd=os.path.join(HERE, "peer"))


def basic(user, secret):
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def wrk(server, path, seconds, connections, body=None, auth=None, tmp="/tmp", delay_ms=None,
        refused=False, lua=""):
    """One wrk run; returns the row's figures. With `delay_ms`, each connection waits that long
    between its requests, which holds the rate near connections * 1000 / delay_ms. With
    `refused`, every answer must be an error (a device's poll while its user decides)."""
    script = os.path.join(tmp, "wrk.lua")
    with open(script, "w") as f:
        if delay_ms:
            f.write(f"function delay() return {delay_ms} end\n")
        if body is not None:
            f.write('wrk.method = "POST"\n')
            f.write(f'wrk.body = "{body}"\n')
            f.write('wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n')
        if auth:
            f.write(f'wrk.headers["Authorization"] = "{auth}"\n')
        f.write(lua)
    pid = server.proc.pid
    cpu0, m0, t0 = signin.cpu_seconds(pid), signin.machine_cpu_seconds(), time.monotonic()
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script,
         server.base + path], capture_output=True, text=True, check=True).stdout
    elapsed = time.monotonic() - t0
    cpu = signin.cpu_seconds(pid) - cpu0
    other = signin.machine_cpu_seconds() - m0 - cpu
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = int(errors.group(1)) if errors else 0
    if failed != (requests if refused else 0):
        raise SystemExit(f"{server.name} {path}: {failed} of {requests} refused\n{out}")

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {"rps": requests / elapsed, "per_core": requests / cpu if cpu else float("nan"),
            "cpu_us": cpu / requests * 1e6 if requests else float("nan"),
            "p50": pct(50), "p99": pct(99), "other": other / elapsed}


def machine_rows(servers, seconds, connections, tmp):
    """servers: {name: (ES256 server, RS256 server)} → ({row label: {name: figures}},
    {label: (server, path, body, auth)} for Tessera)."""
    rows, cases_by_label = {}, {}
    for name, (es, rs) in servers.items():
        # A reference (opaque) token to introspect, issued by each server.
        if name == "tessera":
            ref = es.post("/token", {"grant_type": "client_credentials"},
                          basic("ref", "ref-secret"))["access_token"]
            introspect_auth, cc_extra = basic("urn%3Aapi1", "api1-secret"), ""
        else:
            ref = es.post("/token", {"grant_type": "client_credentials", "scope": "api1.read"},
                          basic("machine", "machine-secret"))["access_token"]
            introspect_auth, cc_extra = basic("machine", "machine-secret"), ""
        introspect_path = "/introspect" if name == "tessera" else "/token/introspection"
        jwks_path = "/.well-known/jwks.json" if name == "tessera" else "/jwks"
        auth = basic("machine", "machine-secret")
        cases = [
            ("client_credentials ES256", es, "/token",
             "grant_type=client_credentials&scope=api1.read&resource=urn%3Aapi1" + cc_extra, auth),
            ("client_credentials RS256", rs, "/token",
             "grant_type=client_credentials&scope=api1.read&resource=urn%3Aapi1" if name == "tessera"
             else "grant_type=client_credentials&scope=api2.read&resource=urn%3Aapi2", auth),
            ("discovery", es, "/.well-known/openid-configuration", None, None),
            ("JWKS", es, jwks_path, None, None),
            ("introspection (reference token)", es, introspect_path, f"token={ref}",
             introspect_auth),
        ]
        for label, server, path, body, a in cases:
            if name == "tessera":
                cases_by_label[label] = (server, path, body, a)
            for c in connections:
                key = f"{label}, {c} conn"
                rows.setdefault(key, {})[name] = wrk(server, path, seconds, c, body, a, tmp)
                print(f"  {name:14} {key}: {rows[key][name]['rps']:,.0f} req/s", file=sys.stderr)
    return rows, cases_by_label


HALF_RATE_DELAY_MS = 2


def half_rate_rows(rows, cases, seconds, connections, tmp):
    """Tessera's latency at half its measured peak rate: enough connections, each pausing
    HALF_RATE_DELAY_MS between requests, to offer half the peak."""
    out = {}
    for label, (server, path, body, auth) in cases.items():
        peak = max(rows[f"{label}, {c} conn"]["tessera"]["rps"] for c in connections)
        # Each connection offers at most 1000 / (delay + latency) requests per second: a short
        # probe finds the real rate per connection, and the run uses as many as half the
        # peak needs.
        conns = max(2, round(peak / 2 * HALF_RATE_DELAY_MS / 1000))
        probe = wrk(server, path, 3, conns, body, auth, tmp, delay_ms=HALF_RATE_DELAY_MS)
        conns = max(2, round(conns * peak / 2 / probe["rps"]))
        out[label] = (peak, wrk(server, path, seconds, conns, body, auth, tmp,
                                delay_ms=HALF_RATE_DELAY_MS))
        print(f"  tessera        {label} at half rate: {out[label][1]['rps']:,.0f} req/s, "
              f"p99 {out[label][1]['p99']:.2f} ms", file=sys.stderr)
    return out


def password_ceiling():
    """Argon2id verifications per core with every core hashing (cargo bench password_rate),
    measured in this run so that sign-ins can be compared with it."""
    out = subprocess.run(["cargo", "bench", "-q", "-p", "tessera-core", "--bench",
                          "password_rate"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    return float(re.search(r"\(([\d.]+) per core\)", out).group(1))


def interactive_rows(servers, seconds, workers):
    """Full sign-ins (the second kind with the request pushed first) and refreshes with our
    driver. servers: {name: (server, sign-in function, push function)} → {row label: {name:
    figures}}."""
    import json
    rows = {}
    for name, (server, sign_in, pushed) in servers.items():
        port = server.port
        sign_in(port)  # warm-up
        sign_in(port, pushed)
        measured = []
        signin.measure("full sign-in", server.proc.pid, workers, seconds,
                       lambda state, s=sign_in, p=port: s(p), measured)
        signin.measure(fapi.PAR_SIGN_IN_ROW, server.proc.pid, workers, seconds,
                       lambda state, s=sign_in, p=port, q=pushed: s(p, q), measured)

        def refresh(state, s=sign_in, p=port):
            if "client" not in state:
                state["client"] = signin.Client(p)
                state["token"] = s(p)["refresh_token"]
            status, _, body = state["client"].request("POST", "/token", {
                "grant_type": "refresh_token", "refresh_token": state["token"]},
                {"Authorization": signin.BASIC})
            assert status == 200, body
            state["token"] = json.loads(body).get("refresh_token", state["token"])

        signin.measure("refresh", server.proc.pid, workers, seconds, refresh, measured)
        for label, rate, per_core, p50, p99, used, other in measured:
            key = f"{label}, {workers} workers"
            rows.setdefault(key, {})[name] = {
                "rps": rate, "per_core": per_core, "cpu_us": used / rate * 1e6,
                "p50": p50, "p99": p99, "other": other}
            print(f"  {name:14} {key}: {rate:,.0f}/s", file=sys.stderr)
    return rows


REFRESH_LUA = r"""
-- One connection per thread, each with its own chain of rotating refresh tokens.
local tokens, next_token = {}, 1
for line in io.lines(TOKENS_FILE) do tokens[#tokens + 1] = line end
function setup(thread)
  thread:set("token", tokens[next_token])
  next_token = next_token + 1
end
function request()
  return wrk.format("POST", "/token", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = AUTH,
  }, "grant_type=refresh_token&refresh_token=" .. token)
end
function response(status, headers, body)
  local fresh = body:match('"refresh_token":"([^"]+)"')
  if fresh then token = fresh end
end
"""


def wrk_refresh(server, sign_in, seconds, threads, tmp):
    """Refreshes driven by wrk (one rotating chain per connection), so that the server, not
    our Python driver, is the limit."""
    path = os.path.join(tmp, f"tokens-{server.port}.txt")
    with open(path, "w") as f:
        for _ in range(threads):
            f.write(sign_in(server.port)["refresh_token"] + "\n")
    script = os.path.join(tmp, "refresh.lua")
    with open(script, "w") as f:
        f.write(f'TOKENS_FILE = "{path}"\nAUTH = "{signin.BASIC}"\n' + REFRESH_LUA)
    pid = server.proc.pid
    cpu0, m0, t0 = signin.cpu_seconds(pid), signin.machine_cpu_seconds(), time.monotonic()
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{threads}", f"-d{seconds}s", "--latency",
                          "-s", script, server.base + "/token"],
                         capture_output=True, text=True, check=True).stdout
    elapsed = time.monotonic() - t0
    cpu = signin.cpu_seconds(pid) - cpu0
    other = signin.machine_cpu_seconds() - m0 - cpu
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    if re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise SystemExit(f"{server.name}: refreshes failed\n{out}")

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {"rps": requests / elapsed, "per_core": requests / cpu if cpu else float("nan"),
            "cpu_us": cpu / requests * 1e6, "p50": pct(50), "p99": pct(99),
            "other": other / elapsed}


def memory_run(server, total, rate, tmp):
    """RSS at start, peak and end over about `total` client_credentials requests, sent for as
    long as the measured `rate` needs; returns (start, peak, end, requests) in KiB."""
    script = os.path.join(tmp, "memory.lua")
    with open(script, "w") as f:
        f.write(f"""wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=api1.read"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "{basic('machine', 'machine-secret')}"
""")
    pid = server.proc.pid
    start = rss_kib(pid)
    seconds = max(10, int(total / max(rate, 1)) + 1)
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "-s", script,
                          server.base + "/token"], capture_output=True, text=True,
                         check=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return start, peak_rss_kib(pid), rss_kib(pid), requests


def fmt(value, unit=""):
    if value != value:  # NaN
        return "n/a"
    return f"{value:,.0f}{unit}" if value >= 100 else f"{value:.2f}{unit}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", default="8,32")
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--quick", action="store_true", help="3 s runs, one connection count, "
                        "no memory run (a smoke test of the harness)")
    args = parser.parse_args()
    seconds = 3 if args.quick else args.seconds
    connections = [8] if args.quick else [int(c) for c in args.connections.split(",")]
    ensure_tools(not args.no_build)
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        pki, tls_ports = fapi.certificates(tmp), (signin.free_port(), signin.free_port())
        t_es, t_rs = tessera(tmp, "ES256"), tessera(tmp, "RS256")
        p = peer(fapi.peer_env(pki, tls_ports[1]))
        # Mutual TLS on a server of its own, so that the other rows are measured as before.
        t_tls = tessera(tmp, "ES256", fapi.tessera_extra(pki, tls_ports[0]), "-tls")
        # The cost of metrics: two fresh servers alike but for [metrics], not t_es, whose
        # store the earlier rows fill.
        t_on = tessera(tmp, "ES256", "", "-metrics")
        t_off = tessera(tmp, "ES256", "[metrics]\nenabled = false\n", "-no-metrics")
        try:
            print("machine endpoints…", file=sys.stderr)
            rows, cases = machine_rows({"tessera": (t_es, t_rs), "oidc-provider": (p, p)},
                                       seconds, connections, tmp)
            print("device polling…", file=sys.stderr)
            rows.update(clients.device_rows({"tessera": (t_es, "/device_authorization"),
                                             "oidc-provider": (p, "/device/auth")},
                                            seconds, connections, tmp, wrk))
            print("DPoP-bound client_credentials…", file=sys.stderr)
            cc = "grant_type=client_credentials&scope=api1.read&resource=urn%3Aapi1"
            auth = basic("machine", "machine-secret")
            rows.update(clients.dpop_rows({"tessera": (t_es, cc, auth),
                                           "oidc-provider": (p, cc, auth)},
                                          rows, seconds, connections, tmp, wrk))
            print("pushed authorization requests and mutual TLS…", file=sys.stderr)
            rows.update(fapi.par_rows({"tessera": (t_es, "/par"), "oidc-provider": (p, "/request")},
                                      seconds, connections, tmp, wrk))
            rows.update(fapi.mtls_rows({"tessera": (t_tls, f"127.0.0.1:{tls_ports[0]}"),
                                        "oidc-provider": (p, f"127.0.0.1:{tls_ports[1]}")},
                                       pki, seconds, connections, tmp, wrk, basic))
            print("metrics on and off…", file=sys.stderr)
            _, pairs = observe.overhead_rows(t_on, t_off, cases["client_credentials ES256"][1:],
                                             seconds, connections, tmp, wrk)
            print("Tessera at half its peak rate…", file=sys.stderr)
            half = half_rate_rows(rows, cases, seconds, connections, tmp)
            # Before the sign-ins, whose Argon2 working memory would dominate the peak.
            cc_rate = rows[f"client_credentials ES256, {connections[-1]} conn"]["tessera"]["rps"]
            if not args.quick:
                print("memory run…", file=sys.stderr)
            memory = None if args.quick else memory_run(t_es, 1_000_000, cc_rate, tmp)
            print("sign-ins and refreshes…", file=sys.stderr)
            rows.update(interactive_rows(
                {"tessera": (t_es, signin.sign_in, lambda c: fapi.pushed_query(c, "/par")),
                 "oidc-provider": (p, signin.peer_sign_in, lambda c: fapi.pushed_query(
                     c, "/request", {"prompt": "consent"}))}, seconds, 4))
            for name, (server, sign_in) in {"tessera": (t_es, signin.sign_in),
                                            "oidc-provider": (p, signin.peer_sign_in)}.items():
                key = "refresh (wrk, 8 chains)"
                rows.setdefault(key, {})[name] = wrk_refresh(server, sign_in, seconds, 8, tmp)
                print(f"  {name:14} {key}: {rows[key][name]['rps']:,.0f}/s", file=sys.stderr)
            peaks = {"tessera": peak_rss_kib(t_es.proc.pid),
                     "oidc-provider": peak_rss_kib(p.proc.pid)}
            scrape = observe.scrape_cost(t_es)
        finally:
            for s in (t_es, t_rs, t_on, t_off, t_tls, p):
                s.stop()
        print("sign-ins by method…", file=sys.stderr)
        by_method = methods.run(os.path.join(ROOT, "target", "release", "tessera"), tmp,
                                seconds, 4)
    print("Argon2id ceiling…", file=sys.stderr)
    ceiling = password_ceiling()
    header = ("| request | Tessera req/s | peer req/s | Tessera per core | peer per core | "
              "ratio per core | Tessera CPU µs/req | peer CPU µs/req | Tessera p50/p99 ms | "
              "peer p50/p99 ms | other CPU (cores) |")
    lines += [header, "|" + "---|" * 11]
    for label, by in rows.items():
        t, q = by["tessera"], by["oidc-provider"]
        lines.append(
            f"| {label} | {fmt(t['rps'])} | {fmt(q['rps'])} | {fmt(t['per_core'])} | "
            f"{fmt(q['per_core'])} | {t['per_core'] / q['per_core']:.1f}x | {fmt(t['cpu_us'])} | "
            f"{fmt(q['cpu_us'])} | {t['p50']:.2f}/{t['p99']:.2f} | {q['p50']:.2f}/{q['p99']:.2f} | "
            f"{t['other']:.2f}/{q['other']:.2f} |")
    lines.append("")
    polls = max(by["tessera"]["per_core"] for label, by in rows.items()
                if label.startswith(clients.DEVICE_ROW))
    bound = [rows[f"{clients.DPOP_ROW}, {c} conn"]["tessera"]["per_core"]
             / rows[f"client_credentials ES256, {c} conn"]["tessera"]["per_core"]
             for c in connections]
    unbound_us = rows[f"client_credentials ES256, {connections[0]} conn"]["tessera"]["cpu_us"]
    verify_us = clients.es256_verify_us()
    lines.append(f"DPoP-bound client_credentials (RFC 9449: a new proof made with jose per "
                 f"request, its signature checked and its `jti` stored once): "
                 f"{', '.join(f'{b:.0%}' for b in bound)} of the unbound rate per Tessera core "
                 f"at {', '.join(str(c) for c in connections)} connections (target: at least "
                 f"60%). One ES256 verification alone takes {verify_us:.0f} µs here (`openssl "
                 f"speed ecdsap256`) against {unbound_us:.0f} µs for the whole unbound request, "
                 f"so a proof's signature check caps the bound rate at "
                 f"{unbound_us / (unbound_us + verify_us):.0%} of it.")
    lines += fapi.report(rows, connections)
    lines += observe.report(pairs, scrape)
    lines.append(f"Device polling (RFC 8628 §3.5: a pending device code polled as fast as the "
                 f"connections go, every answer `slow_down` or `authorization_pending`): "
                 f"{polls:,.0f} polls per Tessera core-second (target: at least 10,000).")
    lines.append("")
    lines.append("Sign-ins: Tessera verifies an Argon2id password (m=19 MiB, t=2); the peer's "
                 "development login pages check no password at all. The peer keeps its grants in "
                 "memory (its development adapter); Tessera writes them to SQLite.")
    sign_ins = rows["full sign-in, 4 workers"]["tessera"]["per_core"]
    lines.append(f"Argon2id verification alone, every core hashing (`cargo bench -p tessera-core "
                 f"--bench password_rate`, this run): {ceiling:.1f} per core; Tessera's sign-ins "
                 f"per core are {sign_ins / ceiling:.0%} of it.")
    lines.append("")
    lines.append("Sign-ins by method (Tessera; `bench/methods.py`: the peer's development setup has "
                 "no second factor or upstream provider), 4 workers, each against the Argon2id "
                 "ceiling of this run. Per core counts the CPU of every Tessera process the "
                 "sign-in ran in (for the upstream provider, both).")
    lines.append("")
    lines.append("| method | sign-ins/s | per core | Argon2id each | of the ceiling | "
                 "p50/p99 ms | cores used | other CPU (cores) |")
    lines.append("|---|---:|---:|---:|---:|---|---:|---:|")
    for m in by_method:
        lines.append(f"| {m['method']} | {fmt(m['rps'])} | {fmt(m['per_core'])} | "
                     f"{m['argon2']} | {m['per_core'] * m['argon2'] / ceiling:.0%} | "
                     f"{m['p50']:.1f}/{m['p99']:.1f} | {m['cores']:.2f} | {m['other']:.2f} |")
    lines.append("")
    lines.append(f"Tessera at half its peak rate ({HALF_RATE_DELAY_MS} ms between requests on "
                 "each connection, enough connections to offer half the peak):")
    lines.append("")
    lines.append("| request | peak req/s | offered | achieved req/s | p50 ms | p99 ms |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    for label, (peak, r) in half.items():
        lines.append(f"| {label} | {fmt(peak)} | {fmt(peak / 2)} | {fmt(r['rps'])} | "
                     f"{r['p50']:.2f} | {r['p99']:.2f} |")
    lines.append("")
    lines.append(f"Peak RSS during the runs: Tessera {peaks['tessera'] / 1024:.1f} MiB, "
                 f"oidc-provider {peaks['oidc-provider'] / 1024:.1f} MiB.")
    if memory:
        s, pk, e, n = memory
        lines.append(f"Memory run (Tessera, {n:,} client_credentials requests after the machine "
                     f"runs, before the sign-ins): RSS at start {s / 1024:.1f} MiB, peak so far "
                     f"{pk / 1024:.1f} MiB, end {e / 1024:.1f} MiB.")
    report = "\n".join(lines)
    print(report)
    day = datetime.date.today().isoformat()
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", f"{day}.md")
    with open(path, "w") as f:
        f.write(f"# Tessera vs oidc-provider, {day}\n\n`python3 bench/compare.py`, "
                f"{seconds} s wrk runs, 2 wrk threads, this machine ({os.cpu_count()} cores).\n\n")
        f.write(report + "\n")
    print(f"written to {os.path.relpath(path, ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
