// What the Node.js programs the Rust tests drive share: environment, one JSON object per line
// on stdout, errors described without secrets, and lines read from stdin with a timeout.

import * as client from 'openid-client'

export const env = (name, fallback) => {
  const value = process.env[name] ?? fallback
  if (value === undefined || value === '') throw new Error(`environment variable ${name} is not set`)
  return value
}

export const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`)

// Length and first 8 characters, never the whole token.
export const redact = (token) =>
  typeof token === 'string' ? { length: token.length, prefix: token.slice(0, 8) } : token

// Removes anything token-like from objects that go into error reports.
const SECRET_KEY = /token|secret|code_verifier|assertion|password|^code$/i
const scrub = (value, depth = 0) => {
  if (depth > 4) return '[...]'
  if (typeof value === 'string') return value.length > 300 ? `${value.slice(0, 300)}...` : value
  if (Array.isArray(value)) return value.slice(0, 20).map((v) => scrub(v, depth + 1))
  if (value && typeof value === 'object') {
    const out = {}
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEY.test(k) ? redact(String(v)) : scrub(v, depth + 1)
    }
    return out
  }
  return value
}

// The step a failure happened in, set by the program as it goes.
export const progress = { step: 'start' }

// What a failure looked like, for the test's assertion message.
export async function describeError(err) {
  const out = {
    step: progress.step,
    name: err?.name,
    message: err?.message,
    code: err?.code,
    error: err?.error,
    error_description: err?.error_description,
    status: err?.status,
  }
  if (err instanceof client.WWWAuthenticateChallengeError) {
    // A 401 with WWW-Authenticate is reported as a challenge, before the body is read.
    out.challenges = scrub(err.cause)
    try {
      const body = await err.response.clone().json()
      out.error ??= body?.error
      out.error_description ??= body?.error_description
    } catch {
      // no JSON body
    }
  }
  const cause = err?.cause
  if (cause instanceof Response) {
    out.cause = { status: cause.status, content_type: cause.headers.get('content-type') }
    try {
      const text = await cause.clone().text()
      try {
        out.cause.body = scrub(JSON.parse(text))
      } catch {
        out.cause.body = scrub(text)
      }
    } catch {
      // body already consumed
    }
  } else if (cause instanceof Error) {
    out.cause = { name: cause.name, message: cause.message, code: cause.code }
  } else if (cause && typeof cause === 'object' && !(err instanceof client.WWWAuthenticateChallengeError)) {
    // e.g. a failed claim comparison: {expected, claims, claim}
    out.cause = scrub(cause)
  }
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k]
  return out
}

// Reads the next stdin line as JSON, or fails after FLOW_TIMEOUT_MS / at end of input.
export function readLine(lines, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no input within ${timeoutMs} ms`)), timeoutMs)
    lines.next().then(
      ({ value, done }) => {
        clearTimeout(timer)
        if (done) reject(new Error('stdin closed before the callback line'))
        else {
          try {
            resolve(JSON.parse(value))
          } catch (e) {
            reject(new Error(`stdin line is not JSON: ${e.message}`))
          }
        }
      },
      (e) => {
        clearTimeout(timer)
        reject(e)
      },
    )
  })
}

// The one non-default setting: openid-client v6 refuses plain-http requests (discovery and
// everything after it) unless allowInsecureRequests is executed on the Configuration. The tests'
// issuer is http://127.0.0.1:PORT, so it is needed there and only there.
export const discoveryOptions = (issuer) =>
  issuer.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : undefined

// Runs `main` and reports its result or its error as the last line; exits 0 or 1.
export async function run(main) {
  try {
    emit({ result: await main() })
    process.exit(0)
  } catch (err) {
    emit({ error: await describeError(err) })
    if (err?.stack) process.stderr.write(`${err.stack}\n`)
    process.exit(1)
  }
}
