-- 001_schema.sql: labwatch's tables (DESIGN.md, "Storage").
-- Applied once by `labwatch migrate` or labwatchd at start, in a
-- transaction, under an advisory lock; search_path is labwatch.

-- Every frame received, whatever became of it: the raw bytes are the
-- record; the columns beside them let an analyst find a message with psql.
CREATE TABLE messages (
    id                  bigserial PRIMARY KEY,
    received_at         timestamptz NOT NULL DEFAULT now(),
    peer                text NOT NULL,
    sending_application text NOT NULL DEFAULT '',   -- MSH-3.1
    sending_facility    text NOT NULL DEFAULT '',   -- MSH-4.1
    control_id          text,                       -- MSH-10; NULL when unreadable
    message_type        text,                       -- MSH-9, e.g. ORU^R01
    version             text,                       -- MSH-12
    outcome             text NOT NULL
        CHECK (outcome IN ('processed', 'ignored', 'quarantined')),
    reason              text,                       -- why quarantined
    error_code          integer,                    -- HL7 table 0357
    ack_code            text NOT NULL,              -- what the sender was told
    size                bigint NOT NULL,            -- bytes received
    raw                 bytea NOT NULL,             -- the frame (first bytes when oversize)
    sha256              bytea NOT NULL,
    -- "SPOOLID:OFFSET" for a frame drained from the spool: draining again
    -- after a crash finds it here and adds nothing (exactly once).
    spool_ref           text
);
CREATE UNIQUE INDEX messages_spool_ref ON messages (spool_ref)
    WHERE spool_ref IS NOT NULL;
-- Idempotence: one processed message per sender + facility + MSH-10. A
-- quarantined copy does not count: the corrected resend must go through.
CREATE UNIQUE INDEX messages_identity
    ON messages (sending_application, sending_facility, control_id)
    WHERE outcome <> 'quarantined';
CREATE INDEX messages_control_id ON messages (control_id);
-- lz4 (PostgreSQL 14+, when built with it) costs a fraction of pglz for
-- the raw frames; elsewhere the default stays.
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 140000 THEN
        EXECUTE 'ALTER TABLE messages ALTER COLUMN raw SET COMPRESSION lz4';
    END IF;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN NULL;
END $$;
-- No index on received_at: ids grow with it (ORDER BY id, or a range of
-- ids found by the first and last received_at of interest).
CREATE INDEX messages_quarantined ON messages (received_at) WHERE outcome = 'quarantined';

CREATE TABLE patients (
    id          bigserial PRIMARY KEY,
    patient_id  text NOT NULL UNIQUE,   -- PID-3.1 of the configured identifier type
    authority   text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE enrollments (
    id                  bigserial PRIMARY KEY,
    patient             bigint NOT NULL REFERENCES patients(id),
    protocol            text NOT NULL,
    phase               text NOT NULL
        CHECK (phase IN ('screening', 'neoadjuvant', 'adjuvant', 'off_study')),
    since               timestamptz NOT NULL DEFAULT now(),
    -- {"alt": {"value": 100, "uln": 40}}: canonical units
    baseline            jsonb NOT NULL DEFAULT '{}',
    eligibility_status  text,           -- last verdict, for change detection
    hold_state          jsonb NOT NULL DEFAULT '{}',  -- {"hepatotoxicity": epoch}
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (patient, protocol)
);

-- One row per OBX of the seven protocol analytes (ast alt tbil crea anc
-- plt hgb), unevaluable ones included; every other OBX stays in
-- messages.raw, from which a replay can rebuild anything.
CREATE TABLE observations (
    id                  bigserial PRIMARY KEY,
    message             bigint NOT NULL REFERENCES messages(id),
    patient             bigint NOT NULL REFERENCES patients(id),
    order_key           text NOT NULL,      -- OBR-3 (else OBR-2) | OBX-3.1 | OBX-4
    set_id              text,
    code                text,
    coding_system       text,
    alt_code            text,
    alt_coding_system   text,
    text                text,
    sub_id              text,
    analyte             text,               -- ast alt tbil crea anc plt hgb, else NULL
    value_type          text,
    value_raw           text,
    comparator          text,
    value               double precision,
    unit                text,
    canonical_value     double precision,
    canonical_unit      text,
    ref_range           text,
    lln                 double precision,
    uln                 double precision,
    range_source        text CHECK (range_source IN ('obx7', 'default', 'none')),
    flags               text,
    status              text,
    observed_at         timestamptz,
    grade               integer,
    problem             text,
    -- Deferred: the writer inserts a batch's observations in one statement
    -- after the rows that point at them.
    supersedes          bigint REFERENCES observations(id) DEFERRABLE INITIALLY DEFERRED,
    retracted           boolean NOT NULL DEFAULT false
);
CREATE INDEX observations_patient ON observations (patient, analyte, observed_at);
CREATE INDEX observations_message ON observations (message);

CREATE TABLE eligibility (
    id              bigserial PRIMARY KEY,
    patient         bigint NOT NULL REFERENCES patients(id),
    protocol        text NOT NULL,
    status          text NOT NULL CHECK (status IN ('eligible', 'ineligible', 'incomplete')),
    evaluated_at    timestamptz NOT NULL DEFAULT now(),
    message         bigint REFERENCES messages(id),
    criteria        jsonb NOT NULL      -- per criterion: verdict, value, observation
);
CREATE INDEX eligibility_patient ON eligibility (patient, evaluated_at);

CREATE TABLE alerts (
    id              bigserial PRIMARY KEY,
    created_at      timestamptz NOT NULL DEFAULT now(),
    patient         bigint NOT NULL REFERENCES patients(id),
    protocol        text NOT NULL,
    kind            text NOT NULL
        CHECK (kind IN ('eligibility', 'toxicity', 'hold', 'resume', 'data_quality')),
    severity        text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    analyte         text,
    grade           integer,
    observation     bigint REFERENCES observations(id) DEFERRABLE INITIALLY DEFERRED,
    message         bigint REFERENCES messages(id),
    summary         text NOT NULL,      -- one line for a clinician at 3 a.m.
    details         jsonb NOT NULL DEFAULT '{}',
    state           text NOT NULL DEFAULT 'open'
        CHECK (state IN ('open', 'acknowledged', 'resolved', 'retracted')),
    acknowledged_by text,
    acknowledged_at timestamptz,
    resolved_at     timestamptz,
    superseded_by   bigint REFERENCES alerts(id)
);
CREATE INDEX alerts_patient_open ON alerts (patient, analyte) WHERE state = 'open';
CREATE INDEX alerts_created_at ON alerts (created_at);

-- A new alert wakes whoever LISTENs (labwatch alerts --follow, notify).
CREATE FUNCTION notify_alert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('labwatch_alert', NEW.id::text);
    RETURN NEW;
END $$;
CREATE TRIGGER alerts_notify AFTER INSERT ON alerts
    FOR EACH ROW EXECUTE FUNCTION notify_alert();

-- An enrollment change tells labwatchd to forget what it cached.
CREATE FUNCTION notify_enrollment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('labwatch_enrollment', NEW.patient::text);
    RETURN NEW;
END $$;
-- Only what people change (not the daemon's own eligibility_status and
-- hold_state), so the daemon's writes do not empty its own cache.
CREATE TRIGGER enrollments_notify AFTER INSERT OR UPDATE OF phase, since, baseline
    ON enrollments FOR EACH ROW EXECUTE FUNCTION notify_enrollment();

-- Roles: the daemon inserts and reads what it needs and updates only the
-- state it owns; viewers read. Created once per cluster, without login:
-- the administrator grants LOGIN (or maps a Unix user) as the site needs.
DO $$
BEGIN
    -- Roles are per cluster: another database's migration may race us.
    BEGIN
        CREATE ROLE labwatch_daemon NOLOGIN;
    EXCEPTION WHEN duplicate_object THEN NULL;
    END;
    BEGIN
        CREATE ROLE labwatch_viewer NOLOGIN;
    EXCEPTION WHEN duplicate_object THEN NULL;
    END;
END $$;
GRANT USAGE ON SCHEMA labwatch TO labwatch_daemon, labwatch_viewer;
GRANT SELECT ON ALL TABLES IN SCHEMA labwatch TO labwatch_viewer;
ALTER DEFAULT PRIVILEGES IN SCHEMA labwatch GRANT SELECT ON TABLES TO labwatch_viewer;
GRANT SELECT, INSERT ON messages, patients, observations, eligibility, alerts
    TO labwatch_daemon;
GRANT SELECT ON enrollments, schema_migrations TO labwatch_daemon;
GRANT UPDATE (retracted) ON observations TO labwatch_daemon;
GRANT UPDATE (state, resolved_at, superseded_by) ON alerts TO labwatch_daemon;
GRANT UPDATE (eligibility_status, hold_state, updated_at) ON enrollments
    TO labwatch_daemon;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA labwatch TO labwatch_daemon;
