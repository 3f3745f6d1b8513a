"""Rows of bench/compare.py for the kinds of client beyond machines and web apps: a device
polling the token endpoint while its user has not decided yet (RFC 8628 §3.4-§3.5)."""
import json
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
