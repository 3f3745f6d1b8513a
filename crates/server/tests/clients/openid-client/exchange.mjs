// Token exchange (RFC 8693) through openid-client v6's generic grant request, against a live
// Tessera, run by the Rust integration tests: two services exchange a user's token along a
// chain. ORDERS exchanges the user's token (SUBJECT_TOKEN, for the orders API) for one to the
// stock and audit APIs; STOCK exchanges that one, with its own client_credentials token as the
// actor token, for one to the audit API; then introspects it. Prints {"result": ...} with the
// issued tokens' claims (never the tokens themselves).
//
// Environment: ISSUER, SUBJECT_TOKEN, ORDERS_ID, ORDERS_SECRET, STOCK_ID, STOCK_SECRET.

import * as client from 'openid-client'
import { discoveryOptions, env, progress, run } from './harness.mjs'

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token'
const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString())

// What a response says, with the issued token's claims in place of the token.
const described = (r) => ({
  issued_token_type: r.issued_token_type,
  token_type: r.token_type,
  scope: r.scope,
  expires_in: r.expiresIn(),
  claims: claimsOf(r.access_token),
})

async function main() {
  const issuer = new URL(env('ISSUER'))
  const discover = (id, secret) => client.discovery(issuer, id, secret, undefined, discoveryOptions(issuer))
  progress.step = 'orders_exchange'
  const orders = await discover(env('ORDERS_ID'), env('ORDERS_SECRET'))
  const first = await client.genericGrantRequest(
    orders,
    GRANT,
    new URLSearchParams([
      ['subject_token', env('SUBJECT_TOKEN')],
      ['subject_token_type', ACCESS_TOKEN],
      ['audience', 'urn:stock'],
      ['audience', 'urn:audit'],
      ['scope', 'stock.read audit.write'],
    ]),
  )
  progress.step = 'stock_actor_token'
  const stock = await discover(env('STOCK_ID'), env('STOCK_SECRET'))
  const own = await client.clientCredentialsGrant(stock, { scope: 'stock.read' })
  progress.step = 'stock_exchange'
  const second = await client.genericGrantRequest(stock, GRANT, {
    subject_token: first.access_token,
    subject_token_type: ACCESS_TOKEN,
    actor_token: own.access_token,
    actor_token_type: ACCESS_TOKEN,
    audience: 'urn:audit',
    scope: 'audit.write',
  })
  progress.step = 'introspection'
  const seen = await client.tokenIntrospection(stock, second.access_token)
  return {
    first: described(first),
    second: described(second),
    introspection: { active: seen.active, sub: seen.sub, act: seen.act, client_id: seen.client_id },
  }
}

run(main)
