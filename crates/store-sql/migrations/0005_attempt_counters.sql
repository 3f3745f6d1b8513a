-- Tessera schema, version 5: counters shared by every instance (failed sign-ins and factor
-- codes per account, address and device; inactive introspection answers per client), so that
-- several instances allow no more attempts than one. Only PostgreSQL uses the table: an SQLite
-- file serves one instance, which keeps its counters in memory.

CREATE TABLE attempt_counters (
    key    TEXT PRIMARY KEY,
    count  BIGINT NOT NULL,
    at_ms  BIGINT NOT NULL
);
CREATE INDEX attempt_counters_at ON attempt_counters (at_ms);
