// DPoP proofs (RFC 9449 §4.2) for the benchmark's bound client_credentials rows: COUNT proofs
// by one ES256 key for POST HTU, each with its own jti and the current iat, one per line in OUT.
// Made with jose (a dependency of the peer), before the run, so that the load generator only
// sends them.
//   node proofs.mjs HTU COUNT OUT
import { writeFileSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import * as jose from 'jose'

const [htu, count, out] = process.argv.slice(2)
const { privateKey, publicKey } = await jose.generateKeyPair('ES256')
const jwk = await jose.exportJWK(publicKey)
const iat = Math.floor(Date.now() / 1000)
const proofs = []
for (let start = 0; start < Number(count); start += 1000) {
  const batch = []
  for (let i = start; i < Math.min(start + 1000, Number(count)); i++) {
    batch.push(
      new jose.SignJWT({ htm: 'POST', htu, iat, jti: randomUUID() })
        .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk })
        .sign(privateKey),
    )
  }
  proofs.push(...(await Promise.all(batch)))
}
writeFileSync(out, `${proofs.join('\n')}\n`)
