"""Rows of bench/compare.py for the high-security profile's requests, side by side with the
peer:
  - pushed authorization requests (RFC 9126): the push alone, driven by wrk, and a whole sign-in
    whose request is pushed first (with the sign-in driver of bench/signin.py);
  - client_credentials over mutual TLS (RFC 8705): the client authenticated by its certificate
    (tls_client_auth, subject DN against a CA) and its access token bound to it
    (`cnf.x5t#S256`), beside the same request over the same TLS with a client secret.

wrk speaks no TLS client certificates, so for the TLS rows it talks plain HTTP to a local nginx
(Debian's, scripts/nginx.sh) that forwards over TLS with the client's certificate on kept-alive
upstream connections, as a client with a connection pool does. nginx's CPU is counted in the
"other CPU" column, not the server's.
"""
import os
import signal
import subprocess
import sys
import time
import urllib.parse

import signin

PAR_ROW = "PAR push"
PAR_SIGN_IN_ROW = "full sign-in, pushed (PAR)"
MTLS_ROW = "client_credentials mTLS-bound (tls_client_auth)"
TLS_SECRET_ROW = "client_credentials over TLS (client_secret_basic)"
CLIENT_DN = "CN=machine-mtls"


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def certificates(tmp):
    """A CA, a server certificate for 127.0.0.1 and a client certificate for `CLIENT_DN`, all
    P-256, made with the openssl command; returns their paths."""
    d = os.path.join(tmp, "pki")
    os.makedirs(d, exist_ok=True)
    p = {name: os.path.join(d, name) for name in
         ("ca.pem", "ca.key", "server.pem", "server.key", "client.pem", "client.key")}
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", p["ca.key"], "-out", p["ca.pem"], "-days", "2",
            "-subj", "/CN=Bench CA")
    for name, subject, ext in (
            ("server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\n"
                                        "extendedKeyUsage=serverAuth\n"),
            ("client", "/" + CLIENT_DN, "extendedKeyUsage=clientAuth\n")):
        csr, extfile = os.path.join(d, name + ".csr"), os.path.join(d, name + ".ext")
        with open(extfile, "w") as f:
            f.write(ext)
        openssl("req", *ec, "-keyout", p[name + ".key"], "-out", csr, "-subj", subject)
        openssl("x509", "-req", "-in", csr, "-CA", p["ca.pem"], "-CAkey", p["ca.key"],
                "-CAcreateserial", "-days", "2", "-out", p[name + ".pem"], "-extfile", extfile)
    return p


def tessera_extra(pki, tls_port):
    """What Tessera's bench configuration adds for these rows: the TLS listener and the
    client authenticated by its certificate."""
    return f"""[tls]
listen = "127.0.0.1:{tls_port}"
certificate_file = "{pki['server.pem']}"
private_key_file = "{pki['server.key']}"
client_ca_file = "{pki['ca.pem']}"
[[clients]]
client_id = "machine-mtls"
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
token_endpoint_auth_method = "tls_client_auth"
tls_client_auth_subject_dn = "{CLIENT_DN}"
tls_client_certificate_bound_access_tokens = true
"""


def peer_env(pki, tls_port):
    return {"TLS_PORT": str(tls_port), "TLS_CERT": pki["server.pem"],
            "TLS_KEY": pki["server.key"], "TLS_CA": pki["ca.pem"]}


class Forwarder:
    """nginx on a loopback port, forwarding plain HTTP to `target` (https://host:port) with the
    client certificate, over at most 64 kept-alive upstream connections. It stands in for the
    server in compare.wrk: `proc` is the server's process, whose CPU the row reports."""

    def __init__(self, server, target, pki, tmp):
        self.name, self.proc = server.name, server.proc
        port = signin.free_port()
        self.base = f"http://127.0.0.1:{port}"
        d = os.path.join(tmp, f"nginx-{port}")
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  upstream target {{ server {target}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass https://target;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_certificate {pki['client.pem']};
      proxy_ssl_certificate_key {pki['client.key']};
      proxy_ssl_trusted_certificate {pki['ca.pem']};
      proxy_ssl_verify on;
      proxy_ssl_name 127.0.0.1;
      proxy_ssl_session_reuse on;
    }}
  }}
}}
""")
        nginx = os.environ.get("TESSERA_TEST_NGINX", "/usr/sbin/nginx")
        self.nginx = subprocess.Popen([nginx, "-p", d, "-c", conf], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                signin.Client(port).request("GET", "/.well-known/openid-configuration")
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit(f"nginx in front of {server.name} did not start")

    def stop(self):
        # SIGTERM: the master then ends its workers.
        self.nginx.send_signal(signal.SIGTERM)
        self.nginx.wait(10)


def check_bound(forwarder, body, auth):
    """One request through the forwarder: the token must be bound to the certificate."""
    import base64
    import json
    headers = {"Authorization": auth} if auth else {}
    c = signin.Client(int(forwarder.base.rsplit(":", 1)[1]))
    status, _, answer = c.request("POST", "/token", dict(urllib.parse.parse_qsl(body)), headers)
    if status != 200:
        raise SystemExit(f"{forwarder.name}: mTLS client_credentials got {status}: {answer}")
    token = json.loads(answer)["access_token"]
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    if "x5t#S256" not in claims.get("cnf", {}):
        raise SystemExit(f"{forwarder.name}: the access token is not bound: {claims}")


def mtls_rows(servers, pki, seconds, connections, tmp, wrk, basic):
    """servers: {name: (server, https base of its TLS listener)} → {row label: {name:
    figures}}."""
    rows = {}
    cc = "grant_type=client_credentials&scope=api1.read&resource=urn%3Aapi1"
    for name, (server, target) in servers.items():
        forwarder = Forwarder(server, target, pki, tmp)
        try:
            check_bound(forwarder, cc + "&client_id=machine-mtls", None)
            for label, body, auth in (
                    (TLS_SECRET_ROW, cc, basic("machine", "machine-secret")),
                    (MTLS_ROW, cc + "&client_id=machine-mtls", None)):
                for c in connections:
                    key = f"{label}, {c} conn"
                    rows.setdefault(key, {})[name] = wrk(forwarder, "/token", seconds, c, body,
                                                         auth, tmp)
                    print(f"  {name:14} {key}: {rows[key][name]['rps']:,.0f} req/s",
                          file=sys.stderr)
        finally:
            forwarder.stop()
    return rows


def par_body():
    return urllib.parse.urlencode({
        "response_type": "code", "client_id": "app", "redirect_uri": signin.REDIRECT,
        "scope": "openid profile offline_access", "state": "s", "nonce": "n",
        "code_challenge": signin.CHALLENGE, "code_challenge_method": "S256"})


def par_rows(servers, seconds, connections, tmp, wrk):
    """servers: {name: (server, PAR endpoint path)} → {row label: {name: figures}}: the push
    alone, each answered 201 with a new request_uri that is stored."""
    rows = {}
    for name, (server, path) in servers.items():
        for c in connections:
            key = f"{PAR_ROW}, {c} conn"
            rows.setdefault(key, {})[name] = wrk(server, path, seconds, c, par_body(),
                                                 signin.BASIC, tmp)
            print(f"  {name:14} {key}: {rows[key][name]['rps']:,.0f} req/s", file=sys.stderr)
    return rows


def pushed_query(client, path, extra=None):
    """Pushes the sign-in's request at `path` with the client `app`; returns the query that
    /authorize then takes (RFC 9126 §4)."""
    import json
    params = dict(urllib.parse.parse_qsl(par_body()), **(extra or {}))
    status, _, body = client.request("POST", path, params, {"Authorization": signin.BASIC})
    assert status == 201, (status, body)
    return urllib.parse.urlencode({"client_id": "app",
                                   "request_uri": json.loads(body)["request_uri"]})


def report(rows, connections):
    """Lines under the table: what binding to the certificate costs each server, against the
    same request over the same TLS with a secret, and what pushing costs a sign-in."""
    def ratio(row, base, name):
        return ", ".join(f"{rows[f'{row}, {c} conn'][name]['per_core'] / rows[f'{base}, {c} conn'][name]['per_core']:.0%}"
                         for c in connections)

    at = ", ".join(str(c) for c in connections)
    pushed = rows[f"{PAR_SIGN_IN_ROW}, 4 workers"]
    plain = rows["full sign-in, 4 workers"]
    return [
        f"Mutual TLS (RFC 8705; wrk → nginx → the server's TLS listener with a client "
        f"certificate on kept-alive connections): client_credentials authenticated by the "
        f"certificate and bound to it runs at {ratio(MTLS_ROW, TLS_SECRET_ROW, 'tessera')} of "
        f"the client-secret rate over the same TLS per Tessera core, and "
        f"{ratio(MTLS_ROW, TLS_SECRET_ROW, 'oidc-provider')} per peer core, at {at} "
        f"connections.",
        f"Pushed authorization requests (RFC 9126): a sign-in whose request is pushed first "
        f"runs at {pushed['tessera']['per_core'] / plain['tessera']['per_core']:.0%} of the "
        f"plain sign-in's rate per Tessera core, and "
        f"{pushed['oidc-provider']['per_core'] / plain['oidc-provider']['per_core']:.0%} per "
        f"peer core.",
    ]
