// A relying party built on panva's openid-client v6 with its DEFAULT settings, run against a
// live Tessera by the Rust integration tests. The test drives it over stdin/stdout, one JSON
// object per line:
//
//   stdout  {"authorize": "<authorization URL>"}
//   stdin   {"callback": "<redirect URL Tessera sent the browser to: code, state, iss>"}
//   stdout  {"result": {...}}                      exit 0
//        or {"error": {name, message, code, error, error_description, status, step, ...}}   exit 1
//
// Environment: ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, MACHINE_CLIENT_ID,
// MACHINE_CLIENT_SECRET, SCOPE (default "openid profile email offline_access"), RESOURCE_SCOPE
// (scope for client_credentials, e.g. "api1.read"), FLOW_TIMEOUT_MS (how long to wait for the
// callback line, default 60000).
//
// Tokens are never printed in full (stdout ends up in CI logs): only their length and first 8
// characters.
//
// Deliberately NOT configured, so openid-client's defaults are what is tested:
//   - client authentication: discovery() with a client_secret string and no ClientAuth argument
//     means client_secret_post;
//   - ID token checks (signature against the discovered jwks_uri, iss, aud, azp, exp, iat, nonce),
//     the RFC 9207 `iss` authorization response parameter check, PKCE, state, userinfo `sub` check;
//   - the signing algorithm (openid-client picks from id_token_signing_alg_values_supported).

import * as client from 'openid-client'
import { createInterface } from 'node:readline'
import { describeError, discoveryOptions, emit, env, progress, readLine, redact, run } from './harness.mjs'

async function main() {
  const issuer = new URL(env('ISSUER'))
  const clientId = env('CLIENT_ID')
  const clientSecret = env('CLIENT_SECRET')
  const redirectUri = env('REDIRECT_URI')
  const machineClientId = env('MACHINE_CLIENT_ID')
  const machineClientSecret = env('MACHINE_CLIENT_SECRET')
  const scope = env('SCOPE', 'openid profile email offline_access')
  const resourceScope = env('RESOURCE_SCOPE')
  const timeoutMs = Number(env('FLOW_TIMEOUT_MS', '60000'))

  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]()
  const result = {}

  progress.step = 'discovery'
  // metadata as a string = just client_secret; no ClientAuth argument = client_secret_post.
  const config = await client.discovery(issuer, clientId, clientSecret, undefined, discoveryOptions(issuer))
  const as = config.serverMetadata()
  result.discovery = {
    issuer: as.issuer,
    token_endpoint_auth_methods_supported: as.token_endpoint_auth_methods_supported,
    id_token_signing_alg_values_supported: as.id_token_signing_alg_values_supported,
    authorization_response_iss_parameter_supported: as.authorization_response_iss_parameter_supported,
    supports_pkce: config.serverMetadata().supportsPKCE(),
  }

  progress.step = 'authorize'
  const codeVerifier = client.randomPKCECodeVerifier()
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier)
  const state = client.randomState()
  const nonce = client.randomNonce()
  const authorizeUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
    state,
    nonce,
  })
  emit({ authorize: authorizeUrl.href })

  progress.step = 'callback'
  const input = await readLine(lines, timeoutMs)
  if (typeof input?.callback !== 'string') throw new Error('expected {"callback": "<redirect URL>"} on stdin')
  const callbackUrl = new URL(input.callback)
  result.callback_params = [...callbackUrl.searchParams.keys()].sort()

  progress.step = 'authorization_code_grant'
  const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
  })
  const claims = tokens.claims()
  const idHeader = JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url').toString())
  result.id_token = {
    alg: idHeader.alg,
    kid_present: typeof idHeader.kid === 'string',
    sub: claims.sub,
    iss: claims.iss,
    aud: claims.aud,
    azp: claims.azp,
    nonce_ok: claims.nonce === nonce,
    auth_time_present: typeof claims.auth_time === 'number',
    sid_present: typeof claims.sid === 'string',
    lifetime: claims.exp - claims.iat,
  }
  result.code_grant = {
    token_type: tokens.token_type,
    expires_in: tokens.expiresIn(),
    scope: tokens.scope,
    access_token: redact(tokens.access_token),
    refresh_token: redact(tokens.refresh_token),
    id_token: redact(tokens.id_token),
  }

  progress.step = 'userinfo'
  // expectedSubject: the response's sub must equal the ID token's.
  result.userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub)

  progress.step = 'refresh_token_grant'
  if (!tokens.refresh_token) throw new Error('no refresh_token in the authorization code grant response')
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token)
  const newRefreshToken = refreshed.refresh_token ?? tokens.refresh_token
  result.refresh = {
    ok: typeof refreshed.access_token === 'string',
    token_type: refreshed.token_type,
    expires_in: refreshed.expiresIn(),
    scope: refreshed.scope,
    access_token_changed: refreshed.access_token !== tokens.access_token,
    refresh_token_returned: typeof refreshed.refresh_token === 'string',
    rotated: typeof refreshed.refresh_token === 'string' && refreshed.refresh_token !== tokens.refresh_token,
    id_token_returned: typeof refreshed.id_token === 'string',
    id_token_sub: refreshed.claims()?.sub,
    access_token: redact(refreshed.access_token),
    refresh_token: redact(refreshed.refresh_token),
  }

  progress.step = 'introspection'
  // Recorded; the test asserts on it.
  result.introspection = await introspect(config, refreshed.access_token)

  progress.step = 'refresh_token_revocation'
  await client.tokenRevocation(config, newRefreshToken)
  result.refresh_revocation = { ok: true }

  progress.step = 'refresh_after_revocation'
  try {
    const again = await client.refreshTokenGrant(config, newRefreshToken)
    void again
  } catch (err) {
    const e = await describeError(err)
    result.refresh_revocation.refresh_after = { failed: true, error: e.error, status: e.status, name: e.name }
  }
  if (!result.refresh_revocation.refresh_after) {
    throw new Error('the revoked refresh token was accepted by the token endpoint')
  }

  progress.step = 'introspection_after_revocation'
  result.introspection_after_revocation = await introspect(config, refreshed.access_token)

  progress.step = 'machine_discovery'
  const machine = await client.discovery(
    issuer,
    machineClientId,
    machineClientSecret,
    undefined,
    discoveryOptions(issuer),
  )

  progress.step = 'client_credentials_grant'
  const cc = await client.clientCredentialsGrant(machine, { scope: resourceScope })
  result.client_credentials = {
    token_type: cc.token_type,
    expires_in: cc.expiresIn(),
    scope: cc.scope,
    access_token: redact(cc.access_token),
  }

  progress.step = 'client_credentials_revocation'
  // Recorded, not thrown: RFC 7009 §2.2.1 lets a server answer unsupported_token_type for
  // tokens it cannot revoke; the test asserts on the outcome.
  try {
    await client.tokenRevocation(machine, cc.access_token)
    result.client_credentials.revocation = { ok: true }
  } catch (err) {
    const e = await describeError(err)
    result.client_credentials.revocation = { ok: false, error: e.error, error_description: e.error_description, status: e.status, name: e.name }
  }
  result.client_credentials.introspection_after_revocation = await introspect(machine, cc.access_token)

  progress.step = 'done'
  return result
}

// Introspection outcome without the token itself; errors are recorded, not thrown.
async function introspect(config, token) {
  try {
    const r = await client.tokenIntrospection(config, token)
    return {
      ok: true,
      active: r.active,
      client_id: r.client_id,
      scope: r.scope,
      token_type: r.token_type,
      sub: r.sub,
      aud: r.aud,
    }
  } catch (err) {
    return { ok: false, ...(await describeError(err)) }
  }
}

run(main)
