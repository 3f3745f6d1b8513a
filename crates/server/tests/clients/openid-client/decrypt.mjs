// Decrypts compact JWEs with panva's jose, for the Rust tests of encrypted ID tokens and
// UserInfo responses: a library we did not write reads what Tessera encrypts.
//
//   stdin   {"generate": ["ECDH-ES", "RSA-OAEP-256"]}                 key pairs to encrypt to
//   stdout  {"ECDH-ES": {"public": <JWK>, "private": <JWK>}, ...}
//   stdin   {"jwe": "<compact JWE>", "jwk": <the recipient's private JWK>}   one per line
//   stdout  {"header": {...}, "plaintext": "<text>"} or {"error": "<message>"}   one per line

import * as jose from 'jose'
import { createInterface } from 'node:readline'

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (!line.trim()) continue
  try {
    const input = JSON.parse(line)
    if (input.generate) {
      const out = {}
      for (const alg of input.generate) {
        const pair = await jose.generateKeyPair(alg, { crv: 'P-256', extractable: true })
        const pub = { ...(await jose.exportJWK(pair.publicKey)), use: 'enc', alg, kid: `${alg}-key` }
        const priv = { ...(await jose.exportJWK(pair.privateKey)), alg }
        out[alg] = { public: pub, private: priv }
      }
      process.stdout.write(`${JSON.stringify(out)}\n`)
      continue
    }
    const { jwe, jwk } = input
    const key = await jose.importJWK(jwk, jwk.alg)
    const { plaintext, protectedHeader } = await jose.compactDecrypt(jwe, key, {
      keyManagementAlgorithms: ['RSA-OAEP-256', 'ECDH-ES'],
      contentEncryptionAlgorithms: ['A256GCM'],
    })
    process.stdout.write(`${JSON.stringify({ header: protectedHeader, plaintext: new TextDecoder().decode(plaintext) })}\n`)
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ error: String(err?.message ?? err) })}\n`)
  }
}
