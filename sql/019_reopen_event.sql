-- 019: a reopened alert is an event of its own, 'reopen'.
--
-- An alert the results had ended (a recovery, a restart allowed) is
-- reopened when the lab withdraws the result that ended it (deleted or
-- corrected away: the writer's upd_reopened, upd_past_reopened,
-- upd_hold_reopened). 008's trigger wrote no event for resolved -> open,
-- and for resolved -> acknowledged (an alert acknowledged before it
-- ended) it wrote an 'acknowledge' that nobody had made. The paging
-- service had closed the incident at the 'resolve', so the alert was
-- open again with nobody paged, and the board's live view was not told.
-- Now:
--   * resolved or retracted -> open or acknowledged is a 'reopen' event,
--     by NULL (labwatch), with a note saying why; `labwatch notify`
--     delivers it under the episode's dedup key (a paging service opens
--     the incident again: the worked example maps it to a trigger). It is
--     written at commit (a deferred constraint trigger), and only when
--     the alert is still open then: the writer reopens an alert and, in
--     the same transaction, may escalate it (superseded by a higher
--     grade: that alert's trigger pages). The note: "reopened: " and the
--     session's labwatch.reopen_note when set (labwatch reevaluate: "re-
--     evaluated under sha256:..."), else what labwatchd withdrew (the
--     higher grade that had superseded it, or the result that ended it);
--   * the dedup key of an event other than a trigger is kept with it,
--     as it was when the event was written (alert_events.dedup_key),
--     not worked out when it is delivered: the writer unlinks an alert
--     from the higher grade that superseded it when that grade's result
--     is withdrawn and the alert stands again (upd_past_reopened), in
--     the same transaction as the retraction of the higher grade, whose
--     'resolve' was then delivered under a key of its own and left the
--     episode's incident open (a trigger's key is still worked out when
--     delivered: the link to the alert it supersedes is written after
--     it);
--   * notify_escalate() counts an alert's deadline from its last
--     reopening when it has one (from its creation otherwise): a
--     reopened alert gets the same time to be acknowledged as a new one,
--     once per alert and escalation target as before;
--   * a toxicity alert a person resolved is now its episode's alert while
--     the episode goes on (store/rows.h, ROWS_PERSON_GOES_ON: resolved
--     by a person, not superseded, no result recorded as ending it).
--     Older code recorded no ending result for those alerts, ended or
--     not, so each is marked ended here, at its own result: labwatchd
--     judges their patients as a restarted older daemon did (a later
--     result at or above the alert grade raises a new alert), never as
--     an episode still open, which could keep a new episode unalerted.
--     `labwatch reevaluate` moves one whose episode the results say goes
--     on back to going on (README, "Upgrading").
ALTER TABLE alert_events DROP CONSTRAINT alert_events_event_check;
-- NOT VALID: every row there passed the narrower check it replaces, and
-- validating would scan the table under its lock.
ALTER TABLE alert_events ADD CONSTRAINT alert_events_event_check
    CHECK (event IN ('trigger', 'acknowledge', 'resolve', 'escalate', 'reopen'))
    NOT VALID;

UPDATE alerts SET resolved_by_observation = observation
    WHERE kind = 'toxicity' AND state = 'resolved' AND resolved_by IS NOT NULL
    AND superseded_by IS NULL AND resolved_by_observation IS NULL
    AND observation IS NOT NULL;

CREATE OR REPLACE FUNCTION alert_events_record() RETURNS trigger
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
    ELSIF OLD.state IN ('resolved', 'retracted')
        AND NEW.state IN ('open', 'acknowledged') THEN
        RETURN NEW; -- a reopening: alert_reopen_record(), at commit
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

ALTER TABLE alert_events ADD COLUMN dedup_key text;
CREATE FUNCTION alert_events_dedup_key() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = labwatch AS $$
BEGIN
    IF NEW.event <> 'trigger' AND NEW.dedup_key IS NULL THEN
        NEW.dedup_key := alert_dedup_key(NEW.alert);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER alert_events_dedup_key BEFORE INSERT ON alert_events
    FOR EACH ROW EXECUTE FUNCTION alert_events_dedup_key();

CREATE FUNCTION alert_reopen_record() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = labwatch AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM alerts a WHERE a.id = NEW.id
            AND a.state IN ('open', 'acknowledged'))
        OR EXISTS (SELECT 1 FROM alert_events e WHERE e.alert = NEW.id
            AND e.event = 'reopen' AND e.xid = pg_current_xact_id()) THEN
        RETURN NULL;
    END IF;
    -- At commit: its time then (an escalation deadline runs from it).
    INSERT INTO alert_events (alert, event, at, note)
        VALUES (NEW.id, 'reopen', clock_timestamp(), 'reopened: ' || coalesce(
            nullif(current_setting('labwatch.reopen_note', true), ''),
            CASE WHEN OLD.superseded_by IS NOT NULL
                THEN 'the higher grade that superseded it was withdrawn'
                ELSE 'the result that ended it was withdrawn' END));
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER alerts_reopen_event AFTER UPDATE OF state ON alerts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.state IN ('resolved', 'retracted')
        AND NEW.state IN ('open', 'acknowledged'))
    EXECUTE FUNCTION alert_reopen_record();

CREATE OR REPLACE FUNCTION notify_escalate(target text, after float8,
    since bigint, note text, kinds text[], proto text) RETURNS integer
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
        AND NOT EXISTS (SELECT 1 FROM alert_events r WHERE r.alert = a.id
            AND r.event = 'reopen'
            AND r.at > now() - make_interval(secs => after))
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
