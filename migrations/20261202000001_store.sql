-- dbabot store schema (issue 16). Bodies are the JSON the sled backend stores, as text, so a
-- record reads back byte-for-byte (the audit hash is recomputed from the decoded record).

CREATE TABLE IF NOT EXISTS threads (
    key        text PRIMARY KEY,
    version    bigint NOT NULL,
    updated_at bigint NOT NULL,
    state      text NOT NULL
);
CREATE INDEX IF NOT EXISTS threads_updated_at ON threads (updated_at);

CREATE TABLE IF NOT EXISTS counters (
    name  text PRIMARY KEY,
    value bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS cases (
    id               text PRIMARY KEY,
    version          bigint NOT NULL,
    status           text NOT NULL,
    thread           text NOT NULL,
    created_at       bigint NOT NULL,
    updated_at       bigint NOT NULL,
    next_reminder_at bigint,
    body             text NOT NULL
);
CREATE INDEX IF NOT EXISTS cases_open_by_thread ON cases (thread, created_at)
    WHERE status IN ('open', 'acknowledged');
CREATE INDEX IF NOT EXISTS cases_due ON cases (next_reminder_at) WHERE status = 'open';

CREATE TABLE IF NOT EXISTS audit (
    seq     bigint PRIMARY KEY,
    time_ms bigint NOT NULL,
    record  text NOT NULL
);

CREATE TABLE IF NOT EXISTS audit_head (
    id   integer PRIMARY KEY CHECK (id = 1),
    seq  bigint NOT NULL,
    hash text NOT NULL
);

CREATE TABLE IF NOT EXISTS dedupe (
    key        text PRIMARY KEY,
    expires_at bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS dedupe_expires_at ON dedupe (expires_at);

-- One row per error-signature occurrence: inserts never wait on each other (a single row per
-- signature would serialise every turn reporting the same error); the count reads at most
-- MAX_OCCURRENCES rows through the (key, at_ms) index; the hourly purge removes rows older
-- than the 24-h window.
CREATE TABLE IF NOT EXISTS signature_seen (
    key    text NOT NULL,
    at_ms  bigint NOT NULL,
    thread text NOT NULL
);
CREATE INDEX IF NOT EXISTS signature_seen_key_at ON signature_seen (key, at_ms DESC);
CREATE INDEX IF NOT EXISTS signature_seen_at ON signature_seen (at_ms);

CREATE TABLE IF NOT EXISTS claims (
    job   text NOT NULL,
    slot  bigint NOT NULL,
    owner text NOT NULL,
    PRIMARY KEY (job, slot)
);

CREATE TABLE IF NOT EXISTS health (
    id integer PRIMARY KEY,
    at bigint NOT NULL
);
