// The upstream OpenID Provider of Tessera's identity federation tests: panva's oidc-provider,
// configured entirely from environment variables and spawned by the Rust tests as a child
// process. It signs the account LOGIN_AS in and grants consent without showing a page, so a
// browser-like client with a cookie jar only follows redirects.
//
// Environment:
//   PORT            port to listen on, on 127.0.0.1 (0 or unset: any free port)
//   ISSUER          issuer identifier, an origin without a path, e.g. http://127.0.0.1:4100
//                   (unset: http://127.0.0.1:<port>, handy with PORT=0)
//   CLIENT_ID, CLIENT_SECRET, REDIRECT_URI; CLIENT_JWKS (optional: private_key_jwt with these keys)
//                   the one client (client_secret_basic or client_secret_post, code flow)
//   BACKCHANNEL_LOGOUT_URI    optional: the client's back-channel logout URI (sid required)
//   POST_LOGOUT_REDIRECT_URI  optional: the client's post-logout redirect URI
//   ACCOUNTS        JSON array of {sub, email, email_verified, name, amr?, acr?}
//   LOGIN_AS        sub of the account that signs in (unset: the first account)
//   KEY_SEED        names the signing keys (one RS256, one ES256): another seed is a key rotation
//
// Prints exactly one line, `ready <issuer>`, on stdout once it listens; logs to stderr. Exits when
// its standard input (a pipe) reaches end of file, on SIGTERM or SIGINT.
//
// Test-only route: POST /test/backchannel-logout with a JSON or form body {sub, sid} sends a
// back-channel logout token to BACKCHANNEL_LOGOUT_URI: 204 once delivered, 502 with the error.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

// stdout carries the one `ready` line and nothing else: oidc-provider prints its notices with
// console.info, so those (and any other console output) go to stderr.
for (const method of ['log', 'info', 'debug']) {
  console[method] = (...args) => console.error(...args);
}
// Imported only now, after the redirection above (oidc-provider 9 formally wants Node 22 LTS or
// later and says so on stderr; it runs on Node 20.12 or newer).
const { default: Provider } = await import('oidc-provider');

function fail(message) {
  process.stderr.write(`upstream: ${message}\n`);
  process.exit(2);
}

function required(name) {
  const value = process.env[name];
  if (value === undefined || value === '') {
    fail(`${name} must be set`);
  }
  return value;
}

function optional(name) {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
}

const port = Number.parseInt(process.env.PORT || '0', 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  fail(`PORT is not a port number: ${process.env.PORT}`);
}
const clientId = required('CLIENT_ID');
const clientSecret = required('CLIENT_SECRET');
const redirectUri = required('REDIRECT_URI');
const backchannelLogoutUri = optional('BACKCHANNEL_LOGOUT_URI');
const postLogoutRedirectUri = optional('POST_LOGOUT_REDIRECT_URI');
const keySeed = required('KEY_SEED');

let accounts;
try {
  accounts = JSON.parse(required('ACCOUNTS'));
} catch (err) {
  fail(`ACCOUNTS is not JSON: ${err.message}`);
}
if (!Array.isArray(accounts) || accounts.length === 0) {
  fail('ACCOUNTS must be a non-empty JSON array');
}
for (const account of accounts) {
  if (typeof account?.sub !== 'string' || account.sub === '') {
    fail(`every account needs a string sub: ${JSON.stringify(account)}`);
  }
  if (account.amr !== undefined
    && !(Array.isArray(account.amr) && account.amr.every((v) => typeof v === 'string'))) {
    fail(`amr must be an array of strings: ${JSON.stringify(account)}`);
  }
  if (account.acr !== undefined && typeof account.acr !== 'string') {
    fail(`acr must be a string: ${JSON.stringify(account)}`);
  }
}
const accountsBySub = new Map(accounts.map((account) => [account.sub, account]));
const loginAs = optional('LOGIN_AS') ?? accounts[0].sub;
if (!accountsBySub.has(loginAs)) {
  fail(`LOGIN_AS ${loginAs} is not the sub of any account in ACCOUNTS`);
}

// Signing keys. The kids derive from KEY_SEED, so another seed means new kids (a rotation) and
// the same seed the same kids; the key material is generated once per seed and kept in a file
// under the temporary directory, so a restart with the same seed signs with the same keys.
function signingKeys(seed) {
  const digest = crypto.createHash('sha256').update(seed).digest('hex');
  const file = path.join(os.tmpdir(), `tessera-upstream-op-keys-${digest.slice(0, 32)}.json`);
  try {
    const stored = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (Array.isArray(stored?.keys) && stored.keys.length === 2) {
      return stored;
    }
  } catch {
    // absent or unreadable: generate below
  }
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const jwks = {
    keys: [
      { ...rsa, kid: `rs256-${digest.slice(0, 16)}`, alg: 'RS256', use: 'sig' },
      { ...ec, kid: `es256-${digest.slice(0, 16)}`, alg: 'ES256', use: 'sig' },
    ],
  };
  // Written whole then renamed into place, so a concurrent start with the same seed reads a
  // complete file; the one on disk after the rename is the one used.
  const temporary = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
  try {
    fs.writeFileSync(temporary, JSON.stringify(jwks), { mode: 0o600 });
    fs.renameSync(temporary, file);
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    process.stderr.write(`upstream: could not keep the keys in ${file}: ${err.message}\n`);
    return jwks;
  }
}

const scopes = ['openid', 'profile', 'email'];
const acrValues = [...new Set(accounts.map((account) => account.acr).filter(Boolean))];

function configuration() {
  return {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      // Either secret method works: oidc-provider accepts client_secret_post for a client
      // registered with client_secret_basic and the other way round. With CLIENT_JWKS (a JWK
      // Set of public keys), the client authenticates with private_key_jwt (RFC 7523) instead.
      ...(process.env.CLIENT_JWKS ? {
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: JSON.parse(process.env.CLIENT_JWKS),
      } : { token_endpoint_auth_method: 'client_secret_basic' }),
      id_token_signed_response_alg: 'RS256',
      ...(backchannelLogoutUri ? {
        backchannel_logout_uri: backchannelLogoutUri,
        backchannel_logout_session_required: true,
      } : undefined),
      ...(postLogoutRedirectUri ? { post_logout_redirect_uris: [postLogoutRedirectUri] } : undefined),
    }],
    jwks: signingKeys(keySeed),
    scopes,
    // openid carries acr and amr too, so both reach the ID token whenever the login had them.
    claims: {
      openid: ['sub', 'acr', 'amr'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    acrValues,
    // Claims of the granted scopes go into the ID token, not only into the userinfo response.
    conformIdTokenClaims: false,
    async findAccount(_ctx, sub) {
      const account = accountsBySub.get(sub);
      if (!account) {
        return undefined;
      }
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            email: account.email,
            email_verified: account.email_verified,
            name: account.name,
          };
        },
      };
    },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true },
      backchannelLogout: { enabled: true },
      userinfo: { enabled: true },
      claimsParameter: { enabled: true },
    },
    interactions: {
      url: (ctx, interaction) => new URL(`/interaction/${interaction.uid}`, ctx.oidc.issuer).href,
    },
    cookies: {
      keys: ['tessera-federation-test-upstream-cookie-key'],
    },
    // oidc-provider refuses outgoing requests to special-use addresses (loopback among them) to
    // guard against SSRF; this provider's only outgoing requests are the back-channel logout
    // notifications to the test's own listener on 127.0.0.1, so they go out unguarded.
    fetch: (url, options) => {
      const { dispatcher: _dispatcher, ...rest } = options;
      return globalThis.fetch(url, rest);
    },
    // An error that cannot go back to the client (say an unknown redirect_uri) is shown as
    // plain text: `<error>: <description>`.
    async renderError(ctx, out) {
      ctx.type = 'text/plain';
      ctx.body = `${out.error}: ${out.error_description ?? ''}\n`;
    },
  };
}

// The interaction: signs LOGIN_AS in (when the prompt asks for a login) and grants every scope
// and claim the authorization request asked for, then sends the browser back to the resume URL.
async function interaction(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  const result = {};
  if (prompt.name === 'login' || !session?.accountId) {
    const account = accountsBySub.get(loginAs);
    result.login = {
      accountId: account.sub,
      remember: true,
      ...(account.amr ? { amr: account.amr } : undefined),
      ...(account.acr ? { acr: account.acr } : undefined),
    };
  }
  const accountId = result.login?.accountId ?? session.accountId;

  let grant;
  if (details.grantId) {
    grant = await provider.Grant.find(details.grantId);
  }
  if (!grant || grant.accountId !== accountId) {
    grant = new provider.Grant({ accountId, clientId: params.client_id });
  }
  const requestedScopes = String(params.scope ?? '').split(' ').filter((s) => scopes.includes(s));
  if (requestedScopes.length) {
    grant.addOIDCScope(requestedScopes.join(' '));
  }
  const claims = new Set(prompt.details.missingOIDCClaims ?? []);
  if (typeof params.claims === 'string') {
    try {
      const parsed = JSON.parse(params.claims);
      for (const target of ['userinfo', 'id_token']) {
        Object.keys(parsed?.[target] ?? {}).forEach((claim) => claims.add(claim));
      }
    } catch {
      // the authorization endpoint already rejected a claims parameter that is not JSON
    }
  }
  if (claims.size) {
    grant.addOIDCClaims([...claims]);
  }
  for (const [indicator, resourceScopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, resourceScopes.join(' '));
  }
  result.consent = { grantId: await grant.save() };

  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) {
      throw new Error('request body too large');
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const type = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'application/json') {
    return text ? JSON.parse(text) : {};
  }
  return Object.fromEntries(new URLSearchParams(text));
}

function answer(res, status, text) {
  res.statusCode = status;
  if (text !== undefined) {
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.end(`${text}\n`);
  } else {
    res.end();
  }
}

async function backchannelLogout(provider, req, res) {
  let body;
  try {
    body = await readBody(req);
  } catch (err) {
    answer(res, 400, `bad body: ${err.message}`);
    return;
  }
  const { sub, sid } = body ?? {};
  if (typeof sub !== 'string' || sub === '') {
    answer(res, 400, 'sub is required');
    return;
  }
  if (sid !== undefined && typeof sid !== 'string') {
    answer(res, 400, 'sid must be a string');
    return;
  }
  if (!backchannelLogoutUri) {
    answer(res, 400, 'BACKCHANNEL_LOGOUT_URI is not set');
    return;
  }
  const client = await provider.Client.find(clientId);
  try {
    await client.backchannelLogout(sub, sid);
    answer(res, 204);
  } catch (err) {
    process.stderr.write(`upstream: back-channel logout to ${backchannelLogoutUri} failed: ${err.message}\n`);
    answer(res, 502, err.message);
  }
}

let provider;
let callback;

const server = http.createServer((req, res) => {
  if (!provider) {
    answer(res, 503, 'starting');
    return;
  }
  const { pathname } = new URL(req.url, 'http://upstream.invalid');
  let handled;
  if (req.method === 'GET' && /^\/interaction\/[^/]+$/.test(pathname)) {
    handled = interaction(provider, req, res);
  } else if (req.method === 'POST' && pathname === '/test/backchannel-logout') {
    handled = backchannelLogout(provider, req, res);
  } else {
    callback(req, res);
    return;
  }
  handled.catch((err) => {
    const status = err?.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    const text = `${err?.name ?? 'Error'}: ${err?.error_description ?? err?.message ?? err}`;
    process.stderr.write(`upstream: ${req.method} ${pathname}: ${status === 500 ? err?.stack ?? err : text}\n`);
    if (!res.headersSent) {
      answer(res, status, text);
    } else {
      res.end();
    }
  });
});

server.on('error', (err) => fail(`cannot listen on 127.0.0.1:${port}: ${err.message}`));

const issuerSetting = optional('ISSUER');
if (issuerSetting !== undefined) {
  let parsed;
  try {
    parsed = new URL(issuerSetting);
  } catch {
    fail(`ISSUER is not a URL: ${issuerSetting}`);
  }
  // Every route, the interaction and test ones included, is served from the root.
  if (parsed.pathname !== '/' || parsed.search || parsed.hash) {
    fail(`ISSUER must be an origin without a path, e.g. http://127.0.0.1:${port || 4100}: ${issuerSetting}`);
  }
}

server.listen(port, '127.0.0.1', () => {
  const issuer = issuerSetting ?? `http://127.0.0.1:${server.address().port}`;
  try {
    provider = new Provider(issuer, configuration());
  } catch (err) {
    fail(`bad configuration: ${err?.stack ?? err}`);
  }
  provider.proxy = false;
  for (const event of ['server_error', 'authorization.error', 'grant.error', 'backchannel.error',
    'userinfo.error', 'end_session.error', 'end_session_confirm.error', 'discovery.error',
    'jwks.error', 'pushed_authorization_request.error']) {
    provider.on(event, (_ctx, err) => {
      process.stderr.write(`upstream: ${event}: ${err?.error ?? ''} ${err?.error_description ?? err?.message ?? err}\n`);
    });
  }
  callback = provider.callback();
  process.stdout.write(`ready ${issuer}\n`);
});

function stop() {
  server.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// A test that dies leaves nothing behind: its end of the stdin pipe closes, and so this exits.
// Standard input that is not a pipe or a socket (a terminal, /dev/null) is not watched.
try {
  const stdin = fs.fstatSync(0);
  if (stdin.isFIFO() || stdin.isSocket()) {
    process.stdin.on('end', stop);
    process.stdin.on('error', stop);
    process.stdin.resume();
  }
} catch {
  // no standard input at all
}
