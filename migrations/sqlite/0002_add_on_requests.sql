-- One row per Add-on request: what was asked, of whom, how each attempt went, and what
-- billing and the publisher's SLA need. Rows outlive the installs they came from, so there
-- are no foreign keys.

CREATE TABLE add_on_requests (
    request_sid          TEXT PRIMARY KEY,
    account_sid          TEXT NOT NULL,
    installed_add_on_sid TEXT NOT NULL,
    install_sid          TEXT NOT NULL,
    add_on_sid           TEXT NOT NULL,
    version_sid          TEXT NOT NULL,
    publisher_sid        TEXT NOT NULL,
    unique_name          TEXT NOT NULL,
    integration_point    TEXT NOT NULL,
    reference_sid        TEXT,
    status               TEXT NOT NULL CHECK (status IN ('successful', 'failed')),
    error_code           INTEGER,
    message              TEXT,
    http_status          INTEGER,
    sla_counted          BOOLEAN NOT NULL,
    billable             BOOLEAN NOT NULL,
    non_billable_reason  TEXT,
    pricing_model        TEXT NOT NULL,
    unit_price_nanos     BIGINT NOT NULL,
    units                BIGINT NOT NULL,
    attempts             TEXT NOT NULL,
    latency_ms           BIGINT NOT NULL,
    date_created         TEXT NOT NULL
);
CREATE INDEX add_on_requests_by_account ON add_on_requests (account_sid, date_created);
CREATE INDEX add_on_requests_by_add_on ON add_on_requests (add_on_sid, date_created);
