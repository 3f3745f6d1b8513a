-- Tessera schema, version 4: a user's factors beyond the password (TOTP, recovery codes), each
-- with its secret and state as a JSON document and a version that a compare-and-set of that
-- state expects, so that of two uses at once only one succeeds; and the links of local users
-- to accounts at external identity providers, found by the provider and the upstream subject.

CREATE TABLE user_factors (
    id            TEXT PRIMARY KEY,
    subject       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    label         TEXT NOT NULL,
    data          TEXT NOT NULL,
    version       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT NULL
);
CREATE INDEX user_factors_subject ON user_factors (subject);

CREATE TABLE external_identities (
    provider          TEXT NOT NULL,
    upstream_subject  TEXT NOT NULL,
    subject           TEXT NOT NULL,
    email             TEXT,
    created_at        BIGINT NOT NULL,
    last_used_at      BIGINT,
    PRIMARY KEY (provider, upstream_subject)
);
CREATE INDEX external_identities_subject ON external_identities (subject);
