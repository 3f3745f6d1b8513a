"""Rows of bench/compare.py for the kinds of client beyond machines and web apps: a device
polling the token endpoint while its user has not decided yet (RFC 8628 §3.4-§3.5), and a
machine whose tokens are bound to its key with DPoP (RFC 9449)."""
import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_ROW = "device polling (pending)"


def post(server, path, form):
    req = urllib.request.Request(
        server.base + path, data=urllib.parse.urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def device_rows(servers, seconds, connections, tmp, wrk):
    """servers: {name: (server, device authorization path)} → {row label: {name: figures}}.
    Each server's public client `tv` asks for a device code; wrk then polls it."""
    rows = {}
    for name, (server, path) in servers.items():
        status, started = post(server, path, {"client_id": "tv", "scope": "openid"})
        if status != 200:
            raise SystemExit(f"{name}: device authorization failed: {status} {started}")
        form = {"grant_type": DEVICE_GRANT, "client_id": "tv",
                "device_code": started["device_code"]}
        status, answer = post(server, "/token", form)
        if status != 400 or answer.get("error") not in ("authorization_pending", "slow_down"):
            raise SystemExit(f"{name}: a poll got {status} {answer}")
        body = urllib.parse.urlencode(form)
        for c in connections:
            key = f"{DEVICE_ROW}, {c} conn"
            rows.setdefault(key, {})[name] = wrk(server, "/token", seconds, c, body, None, tmp,
                                                 refused=True)
            print(f"  {name:14} {key}: {rows[key][name]['rps']:,.0f} polls/s", file=sys.stderr)
    return rows


DPOP_ROW = "client_credentials DPoP-bound ES256"

# Each wrk thread sends its own share of the proofs, one per request; when they run out it
# sends a header that is no proof, which the server refuses and the run reports.
PROOFS_LUA = """
local proofs, n, threads = {}, 0, 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  local i = 0
  for line in io.lines(PROOFS) do
    if i % THREADS == id then proofs[#proofs + 1] = line end
    i = i + 1
  end
end
function request()
  n = n + 1
  wrk.headers["DPoP"] = proofs[n] or "no-proof-left"
  return wrk.format()
end
"""


def proofs_for(server, count, tmp):
    """`count` fresh proofs for the server's token endpoint, made with jose (bench/peer)."""
    path = os.path.join(tmp, f"proofs-{server.port}.txt")
    subprocess.run(["node", "proofs.mjs", server.base + "/token", str(count), path],
                   cwd=os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer"),
                   check=True)
    return path


def dpop_rows(servers, rows, seconds, connections, tmp, wrk):
    """servers: {name: (server, body, auth)} → {row label: {name: figures}}: client_credentials
    with a new DPoP proof per request, beside the unbound row of the same run (`rows`), whose
    rate sizes the proofs made."""
    out = {}
    for name, (server, body, auth) in servers.items():
        for c in connections:
            unbound = rows[f"client_credentials ES256, {c} conn"][name]["rps"]
            path = proofs_for(server, int(unbound * seconds * 1.5) + 1000, tmp)
            lua = f'PROOFS = "{path}"\nTHREADS = 2\n' + PROOFS_LUA
            key = f"{DPOP_ROW}, {c} conn"
            out.setdefault(key, {})[name] = wrk(server, "/token", seconds, c, body, auth, tmp,
                                                lua=lua)
            print(f"  {name:14} {key}: {out[key][name]['rps']:,.0f} req/s", file=sys.stderr)
    return out


def es256_verify_us():
    """Microseconds one ES256 (P-256) signature verification takes on this machine, by
    `openssl speed`: the least a DPoP proof adds to a request."""
    out = subprocess.run(["openssl", "speed", "-seconds", "2", "ecdsap256"],
                         capture_output=True, text=True, check=True).stdout
    per_second = float(out.strip().splitlines()[-1].split()[-1])
    return 1e6 / per_second
