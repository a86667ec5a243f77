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
--   escalate     inserted by `labwatch notify --escalate-after` through
--                notify_escalate(), once per alert and escalation target
--                (target: its name; each target has its own deadline)
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
    -- An escalate event's escalation target (notify_targets.name).
    target  text CHECK ((event = 'escalate') = (target IS NOT NULL)),
    -- The writing transaction: notify's catch-up scans only what was
    -- written after the oldest transaction running at its last scan.
    xid     xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX alert_events_alert ON alert_events (alert, id);
CREATE INDEX alert_events_xid ON alert_events (xid);
CREATE UNIQUE INDEX alert_events_once ON alert_events (alert)
    WHERE event = 'trigger';
CREATE UNIQUE INDEX alert_events_escalate_once ON alert_events (alert, target)
    WHERE event = 'escalate';

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

-- The alerts that supersede id, directly or not, and id itself: the rest
-- of its episode from id on.
CREATE FUNCTION alert_episode_from(id bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE chain(id, depth) AS (
        SELECT $1, 0
        UNION ALL
        SELECT a.superseded_by, c.depth + 1 FROM alerts a JOIN chain c
            ON a.id = c.id WHERE a.superseded_by IS NOT NULL AND c.depth < 1000
    )
    SELECT id FROM chain
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
        SELECT notify_register.target, coalesce(max(id), 0)
        FROM alert_events
        ON CONFLICT (name) DO NOTHING;
    SELECT since_event INTO since FROM notify_targets WHERE name = target;
    RETURN since;
END $$;

-- Give each critical alert still open `after` seconds after it was raised
-- (of kinds and protocol, when not NULL; its trigger after since) its
-- escalate event for target; the number written. Each alert row is locked
-- (FOR NO KEY UPDATE: notify may not UPDATE alerts, hence SECURITY
-- DEFINER) and its state read again under the lock, so an ack committing
-- during the scan either comes first (no escalation) or waits for our
-- commit (its event follows the escalate event). A row locked by a writer
-- is skipped until the next scan.
CREATE FUNCTION notify_escalate(target text, after float8, since bigint,
    note text, kinds text[], proto text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = labwatch AS $$
DECLARE
    aid bigint;
    st text;
    n integer := 0;
BEGIN
    FOR aid IN SELECT a.id FROM alerts a
        WHERE a.state = 'open' AND a.severity = 'critical'
        AND a.created_at <= now() - make_interval(secs => after)
        AND (kinds IS NULL OR a.kind = ANY (kinds))
        AND (proto IS NULL OR a.protocol = proto)
        AND EXISTS (SELECT 1 FROM alert_events t WHERE t.alert = a.id
            AND t.event = 'trigger' AND t.id > since)
        AND NOT EXISTS (SELECT 1 FROM alert_events x WHERE x.alert = a.id
            AND x.event = 'escalate' AND x.target = notify_escalate.target)
        ORDER BY a.id
    LOOP
        SELECT a.state INTO st FROM alerts a WHERE a.id = aid
            FOR NO KEY UPDATE SKIP LOCKED;
        IF NOT FOUND OR st <> 'open' THEN
            CONTINUE;
        END IF;
        INSERT INTO alert_events (alert, event, note, target)
            VALUES (aid, 'escalate', notify_escalate.note,
                notify_escalate.target)
            ON CONFLICT DO NOTHING;
        IF FOUND THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
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
-- The operational alert when paging failed (escalate events are written
-- by notify_escalate()).
REVOKE EXECUTE ON FUNCTION
    notify_escalate(text, float8, bigint, text, text[], text) FROM PUBLIC;
GRANT INSERT ON alerts TO labwatch_notify;
GRANT USAGE ON SEQUENCE alerts_id_seq TO labwatch_notify;
GRANT EXECUTE ON FUNCTION notify_register(text), alert_dedup_key(bigint),
    alert_episode_from(bigint),
    notify_escalate(text, float8, bigint, text, text[], text)
    TO labwatch_notify;
GRANT SELECT ON alert_events, notify_targets, deliveries TO labwatch_viewer;
