"""Sign-ins by method on Tessera, each a complete sign-in in a new browser through the consent
page to the token response, as bench/signin.py's:
  - password: the login page (one Argon2id verification);
  - password and authenticator app: the login page, then a TOTP code (RFC 6238) on the
    second-factor page; each user's codes are single use, so the run cycles through many users,
    each enrolled beforehand on the account page like a person would;
  - upstream provider: the client names the provider (`idp_hint`), the browser signs in at a
    second Tessera (the upstream OpenID provider, its own process: the Argon2id verification
    happens there), and comes back through the callback; the code exchange, the upstream's
    ID token check and the just-in-time account happen in the federating Tessera.
For each: sign-ins per second, per fully used core (the CPU of every Tessera process the
sign-in ran in), and the Argon2id verifications each needs, so that the rate can be held
against the Argon2id ceiling of the same run.

Used by bench/compare.py (`methods.run`).
"""
import base64
import hashlib
import hmac
import json
import os
import queue
import struct
import subprocess
import threading
import time
import urllib.parse

import signin

# Users with an authenticator app. Each code is single use and a code is accepted one 30 s step
# either side of now: a user can sign in about twice at once, then once per step. Enough users
# that a run of a few seconds never waits for one.
TOTP_USERS = 400
PASSWORD = "bench-password-1"


def totp(secret_b32, step):
    """The six-digit code of a base32 secret for a 30-second step (RFC 6238 over RFC 4226)."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def config(port, upstream_port, tmp):
    users = "".join(f"""[[users]]
username = "u{i}"
password = "{PASSWORD}"
""" for i in range(TOTP_USERS))
    return f"""issuer = "http://127.0.0.1:{port}"
listen = "127.0.0.1:{port}"
database_url = "sqlite://{tmp}/methods.db"
[log]
level = "warn"
[keys]
algorithms = ["ES256", "RS256"]
[login]
max_failures_per_account = 1000000
max_failures_per_address = 1000000
# The upstream provider is on loopback over plain HTTP: allowed for this run only.
[outbound]
allow_http = true
allowed_networks = ["127.0.0.0/8"]
[[clients]]
client_id = "app"
secrets = ["app-secret"]
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["{signin.REDIRECT}"]
allowed_scopes = ["openid", "profile", "offline_access"]
[[identity_providers]]
name = "upstream"
display_name = "Upstream"
type = "oidc"
issuer = "http://127.0.0.1:{upstream_port}"
client_id = "federating"
client_secret = "federating-secret"
scopes = ["openid", "profile"]
[[users]]
username = "alice"
password = "alice-password"
claims = {{ name = "Alice" }}
{users}"""


def upstream_config(port, federating_port, tmp):
    return f"""issuer = "http://127.0.0.1:{port}"
listen = "127.0.0.1:{port}"
database_url = "sqlite://{tmp}/upstream.db"
[log]
level = "warn"
[keys]
algorithms = ["ES256", "RS256"]
[login]
max_failures_per_account = 1000000
max_failures_per_address = 1000000
[[clients]]
client_id = "federating"
secrets = ["federating-secret"]
grant_types = ["authorization_code"]
redirect_uris = ["http://127.0.0.1:{federating_port}/federation/upstream/callback"]
allowed_scopes = ["openid", "profile"]
require_consent = false
[[users]]
username = "alice"
password = "alice-password"
claims = {{ name = "Alice Upstream" }}
"""


def start(binary, config_text, path, port):
    with open(path, "w") as f:
        f.write(config_text)
    proc = subprocess.Popen([binary, "--config", path, "serve"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"tessera exited early with {path}")
        try:
            c = signin.Client(port)
            status, _, _ = c.request("GET", "/readyz")
            c.conn.close()
            if status == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"tessera not ready with {path}")


def authorize_query(extra=None):
    params = {
        "client_id": "app", "redirect_uri": signin.REDIRECT, "response_type": "code",
        "scope": "openid profile offline_access", "state": "s", "nonce": "n",
        "code_challenge": signin.CHALLENGE, "code_challenge_method": "S256"}
    params.update(extra or {})
    return "/authorize?" + urllib.parse.urlencode(params)


def form_of(page, **values):
    fields = {"interaction": signin.field(page, "interaction"), "csrf": signin.field(page, "csrf")}
    fields.update(values)
    return fields


def consent_and_token(c, location):
    """From the consent page's URL to the token response."""
    assert "/consent?" in location, location
    _, _, page = c.request("GET", signin.local(location))
    status, location, _ = c.request("POST", "/consent", form_of(page, action="allow"))
    assert status == 303 and location.startswith(signin.REDIRECT), (status, location)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    status, _, body = c.request("POST", "/token", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": signin.REDIRECT,
        "code_verifier": signin.VERIFIER}, {"Authorization": signin.BASIC})
    assert status == 200, body
    return json.loads(body)


def enrol(port, username):
    """Signs `username` in to the account page and sets up an authenticator app there; returns
    the secret and the step its confirmation code used. Retries while the configured password
    is still being checked at start."""
    for _ in range(200):
        c = signin.Client(port)
        _, location, _ = c.request("GET", "/account/signin")
        _, _, page = c.request("GET", signin.local(location))
        status, location, _ = c.request(
            "POST", "/login", form_of(page, username=username, password=PASSWORD,
                                      action="login"))
        if status == 303:
            break
        c.conn.close()
        time.sleep(0.1)
    else:
        raise SystemExit(f"{username} could not sign in to the account page")
    _, _, page = c.request("GET", signin.local(location))
    _, _, page = c.request("POST", "/account/totp/new", {"csrf": signin.field(page, "csrf")})
    secret = signin.field(page, "secret")
    # The step before now (accepted as drift): this step and the next stay free for sign-ins.
    step = int(time.time()) // 30 - 1
    status, _, _ = c.request("POST", "/account/totp", {
        "csrf": signin.field(page, "csrf"), "secret": secret,
        "secret_sig": signin.field(page, "secret_sig"), "label": "bench",
        "code": totp(secret, step)})
    assert status in (200, 303), status
    c.conn.close()
    return secret, step


class TotpUsers:
    """Hands out (username, secret, step) with a step no earlier use of that user had, within
    the ±1 step the server accepts."""

    def __init__(self, enrolled):
        self.free = queue.Queue()
        for name, (secret, last) in enrolled.items():
            self.free.put((name, secret, last))

    def take(self):
        while True:
            name, secret, last = self.free.get(timeout=60)
            t = time.time()
            now = int(t) // 30
            # The step before the current one is accepted only until the current one ends:
            # not in its last 5 seconds, which a loaded machine could cross before the server
            # checks the code.
            low = now - 1 if 30 - t % 30 > 5 else now
            step = max(last + 1, low)
            if step <= now + 1:
                return name, secret, step
            self.free.put((name, secret, last))
            time.sleep(0.01)

    def give_back(self, name, secret, step):
        self.free.put((name, secret, step))


def totp_sign_in(port, users):
    name, secret, step = users.take()
    c = signin.Client(port)
    _, location, _ = c.request("GET", authorize_query())
    _, _, page = c.request("GET", signin.local(location))
    status, location, _ = c.request(
        "POST", "/login", form_of(page, username=name, password=PASSWORD, action="login"))
    assert status == 303 and "/login/factor?" in location, (status, location)
    _, _, page = c.request("GET", signin.local(location))
    status, location, _ = c.request(
        "POST", "/login/factor", form_of(page, code=totp(secret, step), action="verify"))
    users.give_back(name, secret, step)
    assert status == 303, (status, location)
    tokens = consent_and_token(c, location)
    c.conn.close()
    return tokens


def upstream_sign_in(port, upstream_port):
    c, u = signin.Client(port), signin.Client(upstream_port)
    _, location, _ = c.request("GET", authorize_query({"idp_hint": "upstream"}))
    status, location, _ = c.request("GET", signin.local(location))
    assert status == 303 and location.startswith(f"http://127.0.0.1:{upstream_port}/"), location
    _, location, _ = u.request("GET", signin.local(location))
    _, _, page = u.request("GET", signin.local(location))
    status, location, _ = u.request(
        "POST", "/login", form_of(page, username="alice", password="alice-password",
                                  action="login"))
    assert status == 303 and "/federation/upstream/callback?" in location, (status, location)
    status, location, _ = c.request("GET", signin.local(location))
    assert status == 303, (status, location)
    tokens = consent_and_token(c, location)
    c.conn.close()
    u.conn.close()
    return tokens


def measure(name, pids, workers, seconds, job, argon2_per_sign_in):
    cpu = lambda: sum(signin.cpu_seconds(p) for p in pids)  # noqa: E731
    cpu0, m0, t0 = cpu(), signin.machine_cpu_seconds(), time.monotonic()
    count, lat = signin.run(workers, seconds, job)
    elapsed = time.monotonic() - t0
    used = cpu() - cpu0
    other = signin.machine_cpu_seconds() - m0 - used
    pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))] * 1000  # noqa: E731
    return {"method": name, "rps": count / elapsed, "per_core": count / used,
            "argon2": argon2_per_sign_in, "p50": pct(0.5), "p99": pct(0.99),
            "cores": used / elapsed, "other": other / elapsed, "count": count}


def run(binary, tmp, seconds, workers):
    """The sign-in rows by method: a list of dicts (see `measure`)."""
    port, upstream_port = signin.free_port(), signin.free_port()
    upstream = start(binary, upstream_config(upstream_port, port, tmp),
                     os.path.join(tmp, "upstream.toml"), upstream_port)
    federating = None
    try:
        federating = start(binary, config(port, upstream_port, tmp),
                           os.path.join(tmp, "methods.toml"), port)
        enrolled = {}

        def enrol_some(first):
            for i in range(first, TOTP_USERS, workers):
                enrolled[f"u{i}"] = enrol(port, f"u{i}")
        threads = [threading.Thread(target=enrol_some, args=(w,)) for w in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if len(enrolled) != TOTP_USERS:
            raise SystemExit("not every user could set up an authenticator app")
        users = TotpUsers(enrolled)
        # Warm-up: keys, caches, the upstream's discovery and keys, the just-in-time account.
        signin.sign_in(port)
        totp_sign_in(port, users)
        upstream_sign_in(port, upstream_port)
        pids = [federating.pid]
        return [
            measure("password", pids, workers, seconds, lambda s: signin.sign_in(port), 1),
            measure("password and authenticator app (TOTP)", pids, workers, seconds,
                    lambda s: totp_sign_in(port, users), 1),
            measure("upstream OpenID provider (a second Tessera)",
                    [federating.pid, upstream.pid], workers, seconds,
                    lambda s: upstream_sign_in(port, upstream_port), 1),
        ]
    finally:
        for proc in (federating, upstream):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    import argparse
    import tempfile
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/tessera")
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        for row in run(args.binary, d, args.seconds, 4):
            print(row)
