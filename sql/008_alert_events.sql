-- 008: alert events and their deliveries (issue 12: labwatch notify).
--
-- Every change that matters to whoever is paged is an event of its alert,
-- written here by triggers on alerts, so that labwatchd, `labwatch ack` and
-- `labwatch resolve` all produce events without writing them themselves:
--   trigger      the alert was inserted
--   acknowledge  state open -> acknowledged (by acknowledged_by, ack_note)
--   resolve      state -> resolved or retracted (by resolved_by, resolve_note;
--                NULL by = labwatchd); not when the alert was superseded by a
--                higher grade (superseded_by): the episode goes on under the
--                new alert, whose trigger carries the same dedup key
--   escalate     inserted by `labwatch notify --escalate-after`, once per
--                alert (unique index below)
-- Each event sends NOTIFY labwatch_alert: a trigger event as before, with
-- the alert id (what `labwatch alerts --follow` reads), the others with
-- "event ID", which --follow ignores.
--
-- The dedup key (alert_dedup_key) is "labwatch-" and the id of the first
-- alert of the alert's supersede chain: an escalated toxicity alert keeps
-- its predecessor's key, so a paging service sees one incident per episode.
-- It is computed when read (the link is written after the new alert, in
-- the same transaction), and is stable once committed.

ALTER TABLE alerts ADD COLUMN ack_note text;
ALTER TABLE alerts ADD COLUMN resolved_by text;
ALTER TABLE alerts ADD COLUMN resolve_note text;
CREATE INDEX alerts_superseded_by ON alerts (superseded_by)
    WHERE superseded_by IS NOT NULL;

CREATE TABLE alert_events (
    id      bigserial PRIMARY KEY,
    alert   bigint NOT NULL REFERENCES alerts(id),
    event   text NOT NULL
        CHECK (event IN ('trigger', 'acknowledge', 'resolve', 'escalate')),
    at      timestamptz NOT NULL DEFAULT now(),
    "by"    text,           -- who; NULL: labwatch itself
    note    text,
    -- The writing transaction: notify's catch-up scans only what was
    -- written after the oldest transaction running at its last scan.
    xid     xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX alert_events_alert ON alert_events (alert, id);
CREATE INDEX alert_events_xid ON alert_events (xid);
CREATE UNIQUE INDEX alert_events_once ON alert_events (alert, event)
    WHERE event IN ('trigger', 'escalate');

-- The first alert of id's supersede chain, as the key paging services
-- deduplicate on.
CREATE FUNCTION alert_dedup_key(id bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE chain(id, depth) AS (
        SELECT $1, 0
        UNION ALL
        SELECT a.id, c.depth + 1 FROM alerts a JOIN chain c
            ON a.superseded_by = c.id WHERE c.depth < 1000
    )
    SELECT 'labwatch-' || (SELECT id FROM chain ORDER BY depth DESC LIMIT 1)
$$;

-- SECURITY DEFINER: the roles that write alerts need no rights on
-- alert_events.
CREATE FUNCTION alert_events_record() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = labwatch AS $$
DECLARE
    ev text;
    who text;
    why text;
    eid bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        ev := 'trigger';
    ELSIF NEW.state IS NOT DISTINCT FROM OLD.state THEN
        RETURN NEW;
    ELSIF NEW.state = 'acknowledged' THEN
        ev := 'acknowledge';
        who := NEW.acknowledged_by;
        why := NEW.ack_note;
    ELSIF NEW.state IN ('resolved', 'retracted') THEN
        IF NEW.superseded_by IS NOT NULL THEN
            RETURN NEW;
        END IF;
        ev := 'resolve';
        who := NEW.resolved_by;
        why := coalesce(NEW.resolve_note, CASE
            WHEN NEW.state = 'retracted' THEN 'retracted: its result was withdrawn'
            WHEN NEW.resolved_by_observation IS NOT NULL
                THEN 'recovered: a later result is below the alert grade'
            WHEN NEW.resolved_by IS NULL THEN 'resolved by a corrected result'
        END);
    ELSE
        RETURN NEW;
    END IF;
    INSERT INTO alert_events (alert, event, "by", note)
        VALUES (NEW.id, ev, who, why) RETURNING id INTO eid;
    RETURN NEW;
END $$;
CREATE TRIGGER alerts_events AFTER INSERT OR UPDATE OF state ON alerts
    FOR EACH ROW EXECUTE FUNCTION alert_events_record();

-- The trigger event's NOTIFY is the alert's own (001, alerts_notify).
CREATE FUNCTION alert_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.event <> 'trigger' THEN
        PERFORM pg_notify('labwatch_alert', 'event ' || NEW.id);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER alert_events_notify AFTER INSERT ON alert_events
    FOR EACH ROW EXECUTE FUNCTION alert_events_notify();

-- A paging target (`labwatch notify --target NAME`): it delivers the events
-- after since_event, the last one committed when it was first seen.
CREATE TABLE notify_targets (
    name        text PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    since_event bigint NOT NULL
);

-- One row per event and target. A process claims a row (pending and due,
-- or delivering with an expired lease) with FOR UPDATE SKIP LOCKED and a
-- lease longer than its command's timeout, runs the command, then records
-- delivered_at: two processes never both deliver a recorded event, and a
-- crash between the two repeats it once, when the lease runs out.
CREATE TABLE deliveries (
    event           bigint NOT NULL REFERENCES alert_events(id),
    target          text NOT NULL REFERENCES notify_targets(name),
    state           text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivering', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,               -- scrubbed: no patient data
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    claimed_by      text,               -- host:pid of the claimer
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    failed_at       timestamptz,
    PRIMARY KEY (event, target)
);
CREATE INDEX deliveries_due ON deliveries (target, next_attempt_at)
    WHERE state IN ('pending', 'delivering');

-- Register target (once) and return the event it starts after. The lock
-- waits for the transactions writing events to commit, so that no event
-- with a lower id commits after since_event was read.
CREATE FUNCTION notify_register(target text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = labwatch AS $$
DECLARE
    since bigint;
BEGIN
    SELECT since_event INTO since FROM notify_targets WHERE name = target;
    IF FOUND THEN
        RETURN since;
    END IF;
    LOCK TABLE alert_events IN SHARE MODE;
    INSERT INTO notify_targets (name, since_event)
        SELECT target, coalesce(max(id), 0) FROM alert_events
        ON CONFLICT (name) DO NOTHING;
    SELECT since_event INTO since FROM notify_targets WHERE name = target;
    RETURN since;
END $$;

DO $$
BEGIN
    BEGIN
        CREATE ROLE labwatch_notify NOLOGIN;
    EXCEPTION WHEN duplicate_object THEN NULL;
    END;
END $$;
GRANT USAGE ON SCHEMA labwatch TO labwatch_notify;
GRANT SELECT ON alerts, patients, alert_events, notify_targets, deliveries,
    schema_migrations TO labwatch_notify;
GRANT INSERT, UPDATE ON deliveries TO labwatch_notify;
-- Escalate events, and the operational alert when paging failed.
GRANT INSERT ON alert_events, alerts TO labwatch_notify;
GRANT USAGE ON SEQUENCE alert_events_id_seq, alerts_id_seq TO labwatch_notify;
GRANT EXECUTE ON FUNCTION notify_register(text), alert_dedup_key(bigint)
    TO labwatch_notify;
GRANT SELECT ON alert_events, notify_targets, deliveries TO labwatch_viewer;
