-- Tessera schema, version 2: server-wide secrets (MAC keys of the server's own cookies),
-- created by the first instance that needs one and shared by every instance.

CREATE TABLE server_secrets (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
