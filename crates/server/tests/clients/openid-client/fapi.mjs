// A FAPI 2.0 client on panva's openid-client v6 against a live Tessera with profile = "fapi2",
// driven by the Rust integration tests over stdin/stdout like flow.mjs:
//
//   stdout  {"authorize": "<authorization URL: client_id and request_uri only>"}
//   stdin   {"callback": "<redirect URL Tessera sent the browser to>"}
//   stdout  {"result": {...}} exit 0, or {"error": {...}} exit 1
//
// What the client does, each step openid-client's own code:
//   - authenticates with private_key_jwt (its PrivateKeyJwt, signing with the key the test
//     registered for the client);
//   - signs the authorization request as a request object (buildAuthorizationUrlWithJAR) and
//     pushes it (buildAuthorizationUrlWithPAR) with a DPoP proof, which binds the code;
//   - redeems the code with PKCE and DPoP, checks the ID token (signature, iss, aud, nonce, and
//     the RFC 9207 iss of the response), and reads userinfo with the DPoP-bound token;
//   - with a refresh token (SCOPE with offline_access), refreshes twice with it and DPoP, and
//     reports whether a new refresh token came back (FAPI 2.0 servers do not rotate them).
//
// With JARM=1 (FAPI 2.0 Message Signing) the response comes as a signed JWT (response_mode=jwt,
// useJwtResponseMode), which openid-client verifies for the client's
// authorization_signed_response_alg (ES256).
//
// Environment: ISSUER, CLIENT_ID, REDIRECT_URI, CLIENT_KEY_PEM (PKCS#8), CLIENT_KEY_KID,
// SCOPE (default "openid profile"), JARM, FLOW_TIMEOUT_MS. Tokens are never printed.

import * as client from 'openid-client'
import * as jose from 'jose'
import { createInterface } from 'node:readline'
import { discoveryOptions, emit, env, progress, readLine, run } from './harness.mjs'

async function main() {
  const issuer = new URL(env('ISSUER'))
  const clientId = env('CLIENT_ID')
  const redirectUri = env('REDIRECT_URI')
  const scope = env('SCOPE', 'openid profile')
  const timeoutMs = Number(env('FLOW_TIMEOUT_MS', '60000'))
  const key = { key: await jose.importPKCS8(env('CLIENT_KEY_PEM'), 'ES256'), kid: env('CLIENT_KEY_KID') }
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]()
  const result = {}

  progress.step = 'discovery'
  const jarm = process.env.JARM === '1'
  const metadata = jarm ? { authorization_signed_response_alg: 'ES256' } : undefined
  const config = await client.discovery(issuer, clientId, metadata, client.PrivateKeyJwt(key), discoveryOptions(issuer))
  if (jarm) client.useJwtResponseMode(config)
  const as = config.serverMetadata()
  result.discovery = {
    require_pushed_authorization_requests: as.require_pushed_authorization_requests,
    response_types_supported: as.response_types_supported,
    request_object_signing_alg_values_supported: as.request_object_signing_alg_values_supported,
  }

  progress.step = 'par'
  const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'))
  const codeVerifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const signed = await client.buildAuthorizationUrlWithJAR(
    config,
    {
      redirect_uri: redirectUri,
      scope,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...(jarm ? { response_mode: 'jwt' } : {}),
    },
    key,
  )
  const authorizeUrl = await client.buildAuthorizationUrlWithPAR(config, signed.searchParams, { DPoP })
  result.authorize_params = [...authorizeUrl.searchParams.keys()].sort()
  emit({ authorize: authorizeUrl.href })

  progress.step = 'callback'
  const input = await readLine(lines, timeoutMs)
  if (typeof input?.callback !== 'string') throw new Error('expected {"callback": "<redirect URL>"} on stdin')
  const callbackUrl = new URL(input.callback)
  result.callback_params = [...callbackUrl.searchParams.keys()].sort()

  progress.step = 'authorization_code_grant'
  const tokens = await client.authorizationCodeGrant(
    config,
    callbackUrl,
    { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce },
    undefined,
    { DPoP },
  )
  const claims = tokens.claims()
  const header = JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url').toString())
  const access = JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url').toString())
  result.tokens = {
    token_type: tokens.token_type,
    id_token_alg: header.alg,
    sub: claims.sub,
    nonce_ok: claims.nonce === nonce,
    access_token_bound: typeof access.cnf?.jkt === 'string',
  }

  progress.step = 'userinfo'
  result.userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub, { DPoP })
  if (tokens.refresh_token) {
    progress.step = 'refresh_token_grant'
    const refreshed = []
    for (let i = 0; i < 2; i++) {
      const again = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP })
      const bound = JSON.parse(Buffer.from(again.access_token.split('.')[1], 'base64url').toString())
      refreshed.push({
        new_refresh_token: typeof again.refresh_token === 'string',
        access_token_bound: typeof bound.cnf?.jkt === 'string',
        sub: again.claims()?.sub,
      })
    }
    result.refreshed = refreshed
  }
  return result
}

run(main)
