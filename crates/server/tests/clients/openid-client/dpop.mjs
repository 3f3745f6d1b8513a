// DPoP (RFC 9449) against a live Tessera, driven by the Rust integration tests over
// stdin/stdout like flow.mjs:
//
//   stdout  {"authorize": "<authorization URL>"}                (MODE=flow only)
//   stdin   {"callback": "<redirect URL Tessera sent the browser to>"}
//   stdout  {"result": {...}} exit 0, or {"error": {...}} exit 1
//
// Two kinds of client make the proofs, neither of them ours:
//   - openid-client v6 with a DPoP key pair: its DPoP handle makes every proof and retries
//     once when the server asks for a nonce. A public client signs in with `dpop_jkt`, reads
//     userinfo and refreshes; a confidential one gets a client_credentials token.
//   - jose, for proofs that are wrong in one way each (replayed, wrong htu or htm, stale or
//     future iat, wrong typ, a private key in the header, a swapped key, no signature, a
//     symmetric key, wrong or missing ath): each is sent with fetch and its outcome recorded
//     (status, error, challenge) for the test to assert on.
//
// Environment: ISSUER, MODE (flow: all of the above; nonce: the server requires nonces),
// CLIENT_ID (public), REDIRECT_URI, MACHINE_CLIENT_ID, MACHINE_CLIENT_SECRET, SCOPE,
// FLOW_TIMEOUT_MS. Tokens are never printed.

import * as client from 'openid-client'
import * as jose from 'jose'
import { createInterface } from 'node:readline'
import { randomUUID } from 'node:crypto'
import { discoveryOptions, emit, env, progress, readLine, run } from './harness.mjs'

const now = () => Math.floor(Date.now() / 1000)
const b64 = (text) => Buffer.from(text).toString('base64url')
const payloadOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString())
const ath = async (token) => b64(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))))

// A key pair with its public JWK and thumbprint.
async function dpopKey() {
  const pair = await jose.generateKeyPair('ES256', { extractable: true })
  const jwk = await jose.exportJWK(pair.publicKey)
  return { ...pair, jwk, jkt: await jose.calculateJwkThumbprint(jwk) }
}

// A proof by `key` for `htm` `htu`, with claims and header members overridden by `change`.
async function proof(key, htm, htu, change = {}) {
  const claims = { htm, htu, iat: now(), jti: randomUUID(), ...change.claims }
  const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk, ...change.header }
  return new jose.SignJWT(claims).setProtectedHeader(header).sign(change.signer ?? key.privateKey)
}

// What a request got: status, error code, the DPoP-Nonce and WWW-Authenticate headers, and
// the token response's token_type and cnf (never the token).
async function outcome(response) {
  const out = { status: response.status }
  const nonce = response.headers.get('dpop-nonce')
  if (nonce) out.nonce = nonce
  const challenge = response.headers.get('www-authenticate')
  if (challenge) out.challenge = challenge
  try {
    const body = await response.json()
    if (body.error) out.error = body.error
    if (body.token_type) out.token_type = body.token_type
    if (typeof body.access_token === 'string') {
      out.access_token = body.access_token
      out.cnf = payloadOf(body.access_token).cnf ?? null
    }
    if (body.sub) out.sub = body.sub
  } catch {
    // not JSON
  }
  return out
}

// A client_credentials request of the machine client with `proofs` as DPoP headers.
function machineToken(urls, auth, proofs) {
  const headers = new Headers({ authorization: auth, 'content-type': 'application/x-www-form-urlencoded' })
  for (const p of proofs) headers.append('dpop', p)
  return fetch(urls.token, { method: 'POST', headers, body: 'grant_type=client_credentials' }).then(outcome)
}

// Proofs at the token endpoint, each wrong in one way; the good ones first.
async function tokenEndpointProofs(urls, auth) {
  const key = await dpopKey()
  const other = await dpopKey()
  const post = (change) => proof(key, 'POST', urls.token, change)
  const r = {}
  const good = await post()
  r.good = await machineToken(urls, auth, [good])
  r.good.expected_jkt = key.jkt
  r.replayed = await machineToken(urls, auth, [good])
  r.htu_with_query = await machineToken(urls, auth, [await proof(key, 'POST', `${urls.token}?a=b#c`)])
  r.wrong_htu = await machineToken(urls, auth, [await proof(key, 'POST', urls.userinfo)])
  r.wrong_htm = await machineToken(urls, auth, [await proof(key, 'GET', urls.token)])
  r.stale_iat = await machineToken(urls, auth, [await post({ claims: { iat: now() - 300 } })])
  r.future_iat = await machineToken(urls, auth, [await post({ claims: { iat: now() + 300 } })])
  r.string_iat = await machineToken(urls, auth, [await post({ claims: { iat: String(now()) } })])
  r.wrong_typ = await machineToken(urls, auth, [await post({ header: { typ: 'JWT' } })])
  const privateJwk = await jose.exportJWK(key.privateKey)
  r.private_key_in_header = await machineToken(urls, auth, [await post({ header: { jwk: privateJwk } })])
  r.swapped_key = await machineToken(urls, auth, [await post({ header: { jwk: other.jwk } })])
  const unsigned = `${b64(JSON.stringify({ typ: 'dpop+jwt', alg: 'none', jwk: key.jwk }))}.${b64(JSON.stringify({ htm: 'POST', htu: urls.token, iat: now(), jti: randomUUID() }))}.`
  r.alg_none = await machineToken(urls, auth, [unsigned])
  const secret = new TextEncoder().encode('a-symmetric-key-that-anyone-could-hold')
  r.symmetric = await machineToken(urls, auth, [
    await post({ header: { alg: 'HS256', jwk: { kty: 'oct', k: b64('x') } }, signer: secret }),
  ])
  r.two_proofs = await machineToken(urls, auth, [await post(), await post()])
  r.oversized = await machineToken(urls, auth, [await post({ claims: { pad: 'x'.repeat(12000) } })])
  // No proof: an unbound bearer token, as before DPoP.
  r.no_proof = await machineToken(urls, auth, [])
  r.revocation = await revocation(urls, auth, key, r.good.access_token)
  for (const v of Object.values(r)) delete v.access_token
  return r
}

// A proof sent to the revocation and introspection endpoints is checked there too: a wrong one
// is refused and changes nothing; a right one revokes.
async function revocation(urls, auth, key, token) {
  const send = (url, proofs) => {
    const headers = new Headers({ authorization: auth, 'content-type': 'application/x-www-form-urlencoded' })
    for (const p of proofs) headers.append('dpop', p)
    return fetch(url, { method: 'POST', headers, body: new URLSearchParams({ token }) }).then(outcome)
  }
  const active = async () => {
    const response = await fetch(urls.introspect, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    })
    return (await response.json()).active
  }
  const r = {}
  r.wrong_htu = await send(urls.revoke, [await proof(key, 'POST', urls.token)])
  r.introspection_wrong_htu = await send(urls.introspect, [await proof(key, 'POST', urls.revoke)])
  r.active_after_refusal = await active()
  r.good = await send(urls.revoke, [await proof(key, 'POST', urls.revoke)])
  r.active_after_revocation = await active()
  return r
}

// The public client's bound access token at userinfo: presented right, then wrong ways.
async function userinfoProofs(urls, key, token) {
  const other = await dpopKey()
  const get = (scheme, proofs) => {
    const headers = new Headers({ authorization: `${scheme} ${token}` })
    for (const p of proofs) headers.append('dpop', p)
    return fetch(urls.userinfo, { headers }).then(outcome)
  }
  const hash = await ath(token)
  const r = {}
  r.good = await get('DPoP', [await proof(key, 'GET', urls.userinfo, { claims: { ath: hash } })])
  r.as_bearer = await get('Bearer', [])
  r.as_bearer_with_proof = await get('Bearer', [await proof(key, 'GET', urls.userinfo, { claims: { ath: hash } })])
  r.no_proof = await get('DPoP', [])
  r.no_ath = await get('DPoP', [await proof(key, 'GET', urls.userinfo)])
  r.wrong_ath = await get('DPoP', [await proof(key, 'GET', urls.userinfo, { claims: { ath: b64('x'.repeat(32)) } })])
  r.other_key = await get('DPoP', [await proof(other, 'GET', urls.userinfo, { claims: { ath: hash } })])
  r.wrong_htu = await get('DPoP', [await proof(key, 'GET', urls.token, { claims: { ath: hash } })])
  return r
}

// The refresh token of a public client, bound to `key`, presented by someone without it.
async function stolenRefresh(urls, clientId, refreshToken) {
  const thief = await dpopKey()
  const refresh = (proofs) => {
    const headers = new Headers({ 'content-type': 'application/x-www-form-urlencoded' })
    for (const p of proofs) headers.append('dpop', p)
    const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId })
    return fetch(urls.token, { method: 'POST', headers, body }).then(outcome)
  }
  const r = { without_proof: await refresh([]), other_key: await refresh([await proof(thief, 'POST', urls.token)]) }
  for (const v of Object.values(r)) delete v.access_token
  return r
}

// The public client's sign-in, userinfo and refreshes through openid-client's DPoP handle.
async function publicClient(issuer, urls, result) {
  const timeoutMs = Number(env('FLOW_TIMEOUT_MS', '60000'))
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]()
  progress.step = 'public_discovery'
  const config = await client.discovery(issuer, env('CLIENT_ID'), undefined, client.None(), discoveryOptions(issuer))
  result.dpop_signing_alg_values_supported = config.serverMetadata().dpop_signing_alg_values_supported
  const pair = await client.randomDPoPKeyPair('ES256', { extractable: true })
  const key = { ...pair, jwk: await jose.exportJWK(pair.publicKey) }
  key.jkt = await jose.calculateJwkThumbprint(key.jwk)
  const DPoP = client.getDPoPHandle(config, pair)

  progress.step = 'authorize'
  const codeVerifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: env('REDIRECT_URI'),
    scope: env('SCOPE', 'openid profile offline_access'),
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    dpop_jkt: key.jkt,
  })
  emit({ authorize: url.href })
  const input = await readLine(lines, timeoutMs)
  const callback = new URL(input.callback)

  progress.step = 'authorization_code_grant'
  const tokens = await client.authorizationCodeGrant(
    config,
    callback,
    { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce },
    undefined,
    { DPoP },
  )
  const sub = tokens.claims().sub
  result.code_grant = {
    token_type: tokens.token_type,
    cnf_is_the_key: payloadOf(tokens.access_token).cnf?.jkt === key.jkt,
  }
  progress.step = 'userinfo'
  result.userinfo = { sub_ok: (await client.fetchUserInfo(config, tokens.access_token, sub, { DPoP })).sub === sub }
  result.userinfo_proofs = await userinfoProofs(urls, key, tokens.access_token)

  progress.step = 'refresh'
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP })
  result.refresh = {
    token_type: refreshed.token_type,
    rotated: refreshed.refresh_token !== tokens.refresh_token,
    cnf_is_the_key: payloadOf(refreshed.access_token).cnf?.jkt === key.jkt,
  }
  result.stolen_refresh = await stolenRefresh(urls, env('CLIENT_ID'), refreshed.refresh_token)
  progress.step = 'refresh_after_theft'
  // The holder of the key still refreshes: the thief's attempts burned nothing.
  const again = await client.refreshTokenGrant(config, refreshed.refresh_token, undefined, { DPoP })
  result.refresh_after_theft = { token_type: again.token_type }
}

// The confidential client through openid-client: client_credentials with a DPoP key, then
// introspection of the bound token.
async function machineClient(issuer) {
  progress.step = 'machine_discovery'
  const machine = await client.discovery(
    issuer,
    env('MACHINE_CLIENT_ID'),
    env('MACHINE_CLIENT_SECRET'),
    undefined,
    discoveryOptions(issuer),
  )
  const pair = await client.randomDPoPKeyPair('ES256', { extractable: true })
  const jkt = await jose.calculateJwkThumbprint(await jose.exportJWK(pair.publicKey))
  progress.step = 'client_credentials_grant'
  const cc = await client.clientCredentialsGrant(machine, undefined, { DPoP: client.getDPoPHandle(machine, pair) })
  progress.step = 'introspection'
  const seen = await client.tokenIntrospection(machine, cc.access_token)
  return {
    token_type: cc.token_type,
    cnf_is_the_key: payloadOf(cc.access_token).cnf?.jkt === jkt,
    introspection: { active: seen.active, token_type: seen.token_type, cnf_is_the_key: seen.cnf?.jkt === jkt },
  }
}

// With nonces required: a proof without one is answered with use_dpop_nonce and the nonce;
// with it the request succeeds; openid-client's handle does that retry by itself.
async function nonces(urls, auth, issuer) {
  const key = await dpopKey()
  const r = {}
  r.without_nonce = await machineToken(urls, auth, [await proof(key, 'POST', urls.token)])
  r.stale_nonce = await machineToken(urls, auth, [await proof(key, 'POST', urls.token, { claims: { nonce: 'made-up' } })])
  const given = r.without_nonce.nonce
  r.with_nonce = await machineToken(urls, auth, [await proof(key, 'POST', urls.token, { claims: { nonce: given } })])
  for (const v of Object.values(r)) delete v.access_token
  r.openid_client = await machineClient(issuer)
  return r
}

async function main() {
  const issuer = new URL(env('ISSUER'))
  const base = issuer.href.replace(/\/$/, '')
  const urls = {
    token: `${base}/token`,
    userinfo: `${base}/userinfo`,
    revoke: `${base}/revoke`,
    introspect: `${base}/introspect`,
  }
  const credentials = `${encodeURIComponent(env('MACHINE_CLIENT_ID'))}:${encodeURIComponent(env('MACHINE_CLIENT_SECRET'))}`
  const auth = `Basic ${Buffer.from(credentials).toString('base64')}`
  if (env('MODE') === 'nonce') return nonces(urls, auth, issuer)
  const result = {}
  await publicClient(issuer, urls, result)
  progress.step = 'token_endpoint_proofs'
  result.token_endpoint = await tokenEndpointProofs(urls, auth)
  result.machine = await machineClient(issuer)
  progress.step = 'done'
  return result
}

run(main)
