// The peer for bench/compare.py: oidc-provider (OpenID Certified), configured like the Tessera
// side of the benchmark: one confidential client, client_credentials with resource indicators
// (urn:api1: ES256 JWT access tokens, urn:api2: RS256 JWT access tokens, no resource: opaque),
// introspection, the code flow with refresh tokens for the sign-in figures, and a public device
// client (RFC 8628) for the polling figures; pushed authorization requests (on by default); and,
// with TLS_PORT, a TLS listener that asks for client certificates, for a client that
// authenticates with its certificate (tls_client_auth) and gets tokens bound to it (RFC 8705).
//
// Usage: PORT=... [TLS_PORT=... TLS_CERT=... TLS_KEY=... TLS_CA=...] NODE_ENV=production node server.mjs
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import Provider, { errors } from "oidc-provider";

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const jwk = (type, options, kid, alg) => ({
  ...generateKeyPairSync(type, options).privateKey.export({ format: "jwk" }),
  kid,
  alg,
  use: "sig",
});

const resources = {
  "urn:api1": { scope: "api1.read", alg: "ES256" },
  "urn:api2": { scope: "api2.read", alg: "RS256" },
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: "machine",
      client_secret: "machine-secret",
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
      scope: "api1.read api2.read",
    },
    {
      client_id: "machine-mtls",
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
      scope: "api1.read",
      token_endpoint_auth_method: "tls_client_auth",
      tls_client_auth_subject_dn: "CN=machine-mtls",
      tls_client_certificate_bound_access_tokens: true,
    },
    {
      client_id: "app",
      client_secret: "app-secret",
      grant_types: ["authorization_code", "refresh_token"],
      redirect_uris: ["https://app.example/cb"],
      response_types: ["code"],
      scope: "openid profile offline_access",
    },
    {
      client_id: "tv",
      grant_types: ["urn:ietf:params:oauth:grant-type:device_code"],
      token_endpoint_auth_method: "none",
      redirect_uris: [],
      response_types: [],
      scope: "openid",
    },
  ],
  jwks: {
    keys: [
      jwk("rsa", { modulusLength: 2048 }, "rs", "RS256"),
      jwk("ec", { namedCurve: "P-256" }, "es", "ES256"),
    ],
  },
  clientAuthMethods: ["client_secret_basic", "client_secret_post", "none", "tls_client_auth"],
  scopes: ["openid", "profile", "offline_access", "api1.read", "api2.read"],
  claims: { openid: ["sub"], profile: ["name"] },
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, name: "Alice" }),
  }),
  pkce: { required: () => true },
  cookies: { keys: ["bench-cookie-key-not-secret"] },
  issueRefreshToken: async (ctx, client, code) =>
    client.grantTypeAllowed("refresh_token") && code.scopes.has("offline_access"),
  features: {
    clientCredentials: { enabled: true },
    deviceFlow: { enabled: true },
    dPoP: { enabled: true },
    introspection: { enabled: true },
    mTLS: {
      enabled: true,
      certificateBoundAccessTokens: true,
      tlsClientAuth: true,
      // The certificate of the TLS connection, checked by Node against TLS_CA.
      getCertificate: (ctx) => ctx.socket.getPeerX509Certificate?.(),
      certificateAuthorized: (ctx) => ctx.socket.authorized === true,
      certificateSubjectMatches: (ctx, property, expected) =>
        property === "tls_client_auth_subject_dn" &&
        ctx.socket.getPeerX509Certificate()?.subject === expected,
    },
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        const r = resources[resource];
        if (!r) throw new errors.InvalidTarget();
        return {
          scope: r.scope,
          audience: resource,
          accessTokenFormat: "jwt",
          jwt: { sign: { alg: r.alg } },
        };
      },
    },
  },
});
provider.proxy = false;
provider.listen(port, "127.0.0.1");
if (process.env.TLS_PORT) {
  const options = {
    cert: readFileSync(process.env.TLS_CERT),
    key: readFileSync(process.env.TLS_KEY),
    ca: readFileSync(process.env.TLS_CA),
    requestCert: true,
    rejectUnauthorized: false,
  };
  createServer(options, provider.callback()).listen(Number(process.env.TLS_PORT), "127.0.0.1");
}
