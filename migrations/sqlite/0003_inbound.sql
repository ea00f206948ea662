-- Developers' phone numbers, the messages and calls that reach them (with the Add-on results
-- and the webhook's answer), and the developer-facing error log (Monitor alerts).

CREATE TABLE incoming_phone_numbers (
    sid           TEXT PRIMARY KEY,
    account_sid   TEXT NOT NULL REFERENCES accounts (sid),
    phone_number  TEXT NOT NULL UNIQUE,
    friendly_name TEXT NOT NULL,
    sms_url       TEXT,
    sms_method    TEXT NOT NULL,
    voice_url     TEXT,
    voice_method  TEXT NOT NULL,
    date_created  TEXT NOT NULL,
    date_updated  TEXT NOT NULL
);
CREATE INDEX incoming_phone_numbers_by_account ON incoming_phone_numbers (account_sid, date_created, sid);

-- One row per inbound message (kind 'message', SM…) or call (kind 'call', CA…).
CREATE TABLE inbound_events (
    sid              TEXT PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('message', 'call')),
    account_sid      TEXT NOT NULL,
    phone_number_sid TEXT NOT NULL,
    from_number      TEXT NOT NULL,
    to_number        TEXT NOT NULL,
    body             TEXT,
    status           TEXT NOT NULL,
    add_ons          TEXT,
    webhook_url      TEXT,
    webhook_method   TEXT,
    webhook_status   INTEGER,
    webhook_response TEXT,
    error_code       INTEGER,
    error_message    TEXT,
    date_created     TEXT NOT NULL,
    date_updated     TEXT NOT NULL
);
CREATE INDEX inbound_events_by_account ON inbound_events (account_sid, kind, date_created, sid);

CREATE TABLE alerts (
    sid            TEXT PRIMARY KEY,
    account_sid    TEXT NOT NULL,
    error_code     INTEGER NOT NULL,
    log_level      TEXT NOT NULL CHECK (log_level IN ('error', 'warning')),
    alert_text     TEXT NOT NULL,
    request_url    TEXT,
    request_method TEXT,
    resource_sid   TEXT,
    date_created   TEXT NOT NULL
);
CREATE INDEX alerts_by_account ON alerts (account_sid, date_created, sid);
