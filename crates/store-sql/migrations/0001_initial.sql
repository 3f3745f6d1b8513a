-- Tessera schema, version 1. Portable SQL: TEXT and BIGINT only, so SQLite and PostgreSQL
-- share it. Handles (codes, tokens, session cookies) are stored as SHA-256 digests, never in
-- clear. JSON documents are kept as TEXT.

CREATE TABLE clients (
    client_id   TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    data        TEXT NOT NULL
);

CREATE TABLE resources (
    id          BIGINT PRIMARY KEY,
    data        TEXT NOT NULL
);

CREATE TABLE grants (
    handle_digest TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    subject       TEXT,
    session_id    TEXT,
    family        TEXT,
    data          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    consumed_at   BIGINT
);
CREATE INDEX grants_family ON grants (family);
CREATE INDEX grants_expires_at ON grants (expires_at);
CREATE INDEX grants_subject ON grants (subject);
CREATE INDEX grants_session ON grants (session_id);

CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY,
    alg           TEXT NOT NULL,
    private_pkcs8 TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    activates_at  BIGINT NOT NULL
);

CREATE TABLE users (
    subject       TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    claims        TEXT NOT NULL,
    source        TEXT NOT NULL,
    disabled      BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    id_digest           TEXT PRIMARY KEY,
    sid                 TEXT NOT NULL UNIQUE,
    subject             TEXT NOT NULL,
    auth_time           BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    last_seen           BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    data                TEXT NOT NULL
);
CREATE INDEX sessions_subject ON sessions (subject);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
