-- Accounts, Add-ons and their immutable versions, extensions (integration points), and the
-- developers' installed Add-ons. JSON documents are stored as text so that key order (the
-- publisher's parameter order, the schema shown to developers) survives storage.

CREATE TABLE accounts (
    sid               TEXT PRIMARY KEY,
    friendly_name     TEXT NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('publisher', 'developer')),
    auth_token_hash   BLOB NOT NULL,
    auth_token_sealed BLOB NOT NULL,
    date_created      TEXT NOT NULL,
    date_updated      TEXT NOT NULL
);

CREATE TABLE add_ons (
    sid                TEXT PRIMARY KEY,
    publisher_sid      TEXT NOT NULL REFERENCES accounts (sid),
    unique_name        TEXT NOT NULL UNIQUE,
    kind               TEXT NOT NULL,
    latest_version_sid TEXT,
    version_count      INTEGER NOT NULL DEFAULT 0,
    date_created       TEXT NOT NULL,
    date_updated       TEXT NOT NULL
);
CREATE INDEX add_ons_by_publisher ON add_ons (publisher_sid, date_created, sid);

CREATE TABLE add_on_versions (
    sid                TEXT PRIMARY KEY,
    add_on_sid         TEXT NOT NULL REFERENCES add_ons (sid),
    version_number     INTEGER NOT NULL,
    manifest           TEXT NOT NULL,
    auth_secret_sealed BLOB,
    date_created       TEXT NOT NULL,
    UNIQUE (add_on_sid, version_number)
);

CREATE TABLE add_on_extensions (
    sid               TEXT PRIMARY KEY,
    add_on_sid        TEXT NOT NULL REFERENCES add_ons (sid),
    integration_point TEXT NOT NULL,
    UNIQUE (add_on_sid, integration_point)
);

CREATE TABLE installed_add_ons (
    sid           TEXT PRIMARY KEY,
    account_sid   TEXT NOT NULL REFERENCES accounts (sid),
    add_on_sid    TEXT NOT NULL REFERENCES add_ons (sid),
    version_sid   TEXT NOT NULL REFERENCES add_on_versions (sid),
    install_sid   TEXT NOT NULL,
    unique_name   TEXT NOT NULL,
    configuration TEXT NOT NULL,
    date_created  TEXT NOT NULL,
    date_updated  TEXT NOT NULL,
    UNIQUE (account_sid, unique_name)
);
CREATE INDEX installed_add_ons_by_account ON installed_add_ons (account_sid, date_created, sid);

CREATE TABLE installed_add_on_extensions (
    installed_add_on_sid TEXT NOT NULL REFERENCES installed_add_ons (sid) ON DELETE CASCADE,
    extension_sid        TEXT NOT NULL REFERENCES add_on_extensions (sid),
    enabled              BOOLEAN NOT NULL,
    PRIMARY KEY (installed_add_on_sid, extension_sid)
);
