-- 010: a hold's page is closed when a resume answers it (issue 12).
--
-- A 'resume' answers its rule's 'hold' alerts by superseded_by (007), and
-- 008 writes no 'resolve' event for an alert superseded by another: the
-- episode was meant to go on under the new alert. That holds for a
-- toxicity alert superseded by a higher grade, not for a hold answered by
-- a resume: the hold's page stayed open for ever, and the resume shared
-- the hold's dedup key. Now:
--   * the writer resolves the hold first (resolved_by 'labwatch',
--     resolve_note 'restart allowed: alert N', superseded_by still NULL,
--     so that alerts_events writes its 'resolve', before the resume's
--     'trigger'), inserts the resume, then links the hold to it
--     (superseded_by, a column the trigger does not watch);
--   * an episode (alert_dedup_key, alert_episode_from) follows only links
--     between alerts of one kind: a resume has its own dedup key;
--   * alert_chain_root follows every link (an episode, and a hold with the
--     resume that answered it): `labwatch notify` delivers the events of
--     one chain to a target one at a time, in order, however many it has
--     in flight (the hold's 'resolve' before the resume's 'trigger');
--   * the holds answered before this migration, which have no 'resolve'
--     event, get one now (at the time of the migration), so that their
--     pages are closed.
CREATE OR REPLACE FUNCTION alert_dedup_key(id bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE chain(id, kind, depth) AS (
        SELECT a.id, a.kind, 0 FROM alerts a WHERE a.id = $1
        UNION ALL
        SELECT a.id, a.kind, c.depth + 1 FROM alerts a JOIN chain c
            ON a.superseded_by = c.id AND a.kind = c.kind
            WHERE c.depth < 1000
    )
    SELECT 'labwatch-' ||
        coalesce((SELECT id FROM chain ORDER BY depth DESC LIMIT 1), $1)
$$;

CREATE OR REPLACE FUNCTION alert_episode_from(id bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE chain(id, depth) AS (
        SELECT $1, 0
        UNION ALL
        SELECT a.superseded_by, c.depth + 1 FROM alerts a JOIN chain c
            ON a.id = c.id JOIN alerts s ON s.id = a.superseded_by
            AND s.kind = a.kind WHERE c.depth < 1000
    )
    SELECT id FROM chain
$$;

-- The first alert of id's supersede chain, whatever the kinds.
CREATE FUNCTION alert_chain_root(id bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE chain(id, depth) AS (
        SELECT $1, 0
        UNION ALL
        SELECT a.id, c.depth + 1 FROM alerts a JOIN chain c
            ON a.superseded_by = c.id WHERE c.depth < 1000
    )
    SELECT id FROM chain ORDER BY depth DESC LIMIT 1
$$;
GRANT EXECUTE ON FUNCTION alert_chain_root(bigint) TO labwatch_notify;

GRANT UPDATE (resolved_by, resolve_note) ON alerts TO labwatch_daemon;

-- The holds answered before: their 'resolve', once (in id order).
WITH h AS (
    UPDATE alerts h SET resolved_by = coalesce(h.resolved_by, 'labwatch'),
        resolve_note = coalesce(h.resolve_note,
            'restart allowed: alert ' || h.superseded_by)
    FROM alerts r
    WHERE r.id = h.superseded_by AND h.kind = 'hold' AND r.kind = 'resume'
    AND NOT EXISTS (SELECT 1 FROM alert_events e WHERE e.alert = h.id
        AND e.event = 'resolve')
    RETURNING h.id, h.resolved_by, h.resolve_note
)
INSERT INTO alert_events (alert, event, "by", note)
    SELECT id, 'resolve', resolved_by, resolve_note FROM h ORDER BY id;
