-- Tessera schema, version 3: a grant found by a second key (a device flow's user code, kept as
-- its digest, never in clear), unique so that one key never names two grants; and a version
-- that a compare-and-set of a pending grant's data expects, so that of two instances deciding
-- it at once only one succeeds. Rows written before have no key and version 0.

ALTER TABLE grants ADD COLUMN lookup_digest TEXT;
ALTER TABLE grants ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX grants_lookup_digest ON grants (lookup_digest);
