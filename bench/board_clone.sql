-- bench/board_clone.sql: bench/run-board's copy of the template patients
-- (BT-SE, BT-SI, BT-SN in screening; BT-TQ, BT-TA on treatment), every row
-- labwatchd wrote for them, to :screening + :treated patients.
--
--   psql -v screening=N -v treated=N -f bench/board_clone.sql
--
-- Clone c (1, 2, ...) of a row with id x gets id x + c * stride, where
-- stride is above every id in the database; every reference to an id is
-- shifted the same way (foreign keys, the eligibility criteria's
-- observation ids, enrollments.hold_state's obs, alerts.details' resolves),
-- so that each clone is what labwatchd would have written for it. The
-- patient id in the raw message and the summaries is the clone's; the
-- alert ids in summary and event texts ("alert 5 resolved") are the
-- template's. Screening clones: 40% of BT-SE, 30% BT-SI, 30% BT-SN;
-- treatment clones: half BT-TQ, half BT-TA. Triggers are off
-- (session_replication_role = replica): alert_events are copied, not
-- raised again, and nobody LISTENs.
\set ON_ERROR_STOP 1
SET search_path = labwatch;
SET session_replication_role = replica;
BEGIN;

SELECT greatest((SELECT max(id) FROM messages), (SELECT max(id) FROM observations),
    (SELECT max(id) FROM alerts), (SELECT max(id) FROM alert_events),
    (SELECT max(id) FROM eligibility), (SELECT max(id) FROM patients),
    (SELECT max(id) FROM enrollments)) + 1 AS stride \gset

CREATE TEMP TABLE clone AS
SELECT g AS c, p.id AS tpl, p.patient_id AS tpl_pid,
    'BC-' || substr(p.patient_id, 4) || '-' || lpad(g::text, 5, '0') AS new_pid,
    g::bigint * :stride AS off
FROM (SELECT g, CASE WHEN g % 10 < 4 THEN 'BT-SE' WHEN g % 10 < 7 THEN 'BT-SI'
        ELSE 'BT-SN' END AS t
      FROM generate_series(1, :screening) g
      UNION ALL
      SELECT g, CASE WHEN g % 2 = 0 THEN 'BT-TQ' ELSE 'BT-TA' END
      FROM generate_series(:screening + 1, :screening + :treated) g) s
JOIN patients p ON p.patient_id = s.t;
CREATE INDEX ON clone (tpl);

-- The select list of table t: each column as x.column, or its expression
-- in over (a JSON object of column -> SQL), in the table's order.
CREATE FUNCTION pg_temp.cols(t text, over jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(coalesce(over->>column_name, 'x.' || quote_ident(column_name)),
        ', ' ORDER BY ordinal_position)
    FROM information_schema.columns
    WHERE table_schema = 'labwatch' AND table_name = t $$;

SELECT pg_temp.cols('patients', '{"id": "x.id + c.off", "patient_id": "c.new_pid"}') AS cols \gset
INSERT INTO patients SELECT :cols FROM patients x JOIN clone c ON c.tpl = x.id;

SELECT pg_temp.cols('enrollments', jsonb_build_object('id', 'x.id + c.off',
    'patient', 'x.patient + c.off', 'hold_state',
    '(SELECT coalesce(jsonb_object_agg(k, CASE WHEN v ? ''obs'' '
    'THEN jsonb_set(v, ''{obs}'', to_jsonb((v->>''obs'')::bigint + c.off)) '
    'ELSE v END), ''{}''::jsonb) FROM jsonb_each(x.hold_state) AS h(k, v))')) AS cols \gset
INSERT INTO enrollments SELECT :cols FROM enrollments x JOIN clone c ON c.tpl = x.patient;

CREATE TEMP TABLE tmsg AS
SELECT DISTINCT message, patient FROM observations
WHERE patient IN (SELECT tpl FROM clone);

SELECT pg_temp.cols('messages', jsonb_build_object('id', 'x.id + c.off',
    'control_id', 'x.control_id || ''.'' || c.c', 'raw', 'r.raw',
    'size', 'length(r.raw)', 'sha256', 'sha256(r.raw)')) AS cols \gset
INSERT INTO messages SELECT :cols
FROM messages x JOIN tmsg t ON t.message = x.id JOIN clone c ON c.tpl = t.patient,
LATERAL (SELECT convert_to(replace(replace(convert_from(x.raw, 'UTF8'),
        '|' || x.control_id || '|', '|' || x.control_id || '.' || c.c || '|'),
        'PID|1||' || c.tpl_pid || '^', 'PID|1||' || c.new_pid || '^'), 'UTF8') AS raw) r;

SELECT pg_temp.cols('observations', '{"id": "x.id + c.off",
    "message": "x.message + c.off", "patient": "x.patient + c.off",
    "supersedes": "x.supersedes + c.off"}') AS cols \gset
INSERT INTO observations SELECT :cols FROM observations x JOIN clone c ON c.tpl = x.patient;

SELECT pg_temp.cols('eligibility', jsonb_build_object('id', 'x.id + c.off',
    'patient', 'x.patient + c.off', 'message', 'x.message + c.off', 'criteria',
    '(SELECT jsonb_agg(CASE WHEN (y->>''observation'')::bigint > 0 '
    'THEN jsonb_set(y, ''{observation}'', to_jsonb((y->>''observation'')::bigint + c.off)) '
    'ELSE y END ORDER BY n) FROM jsonb_array_elements(x.criteria) WITH ORDINALITY AS a(y, n))'))
    AS cols \gset
INSERT INTO eligibility SELECT :cols FROM eligibility x JOIN clone c ON c.tpl = x.patient;

SELECT pg_temp.cols('alerts', jsonb_build_object('id', 'x.id + c.off',
    'patient', 'x.patient + c.off', 'observation', 'x.observation + c.off',
    'message', 'x.message + c.off', 'superseded_by', 'x.superseded_by + c.off',
    'resolved_by_observation', 'x.resolved_by_observation + c.off',
    'summary', 'replace(x.summary, ''patient '' || c.tpl_pid || '','', '
    '''patient '' || c.new_pid || '','')',
    'details', 'CASE WHEN x.details ? ''resolves'' THEN jsonb_set(x.details, '
    '''{resolves}'', to_jsonb((x.details->>''resolves'')::bigint + c.off)) '
    'ELSE x.details END')) AS cols \gset
INSERT INTO alerts SELECT :cols FROM alerts x JOIN clone c ON c.tpl = x.patient;

SELECT pg_temp.cols('alert_events', '{"id": "x.id + c.off", "alert": "x.alert + c.off"}')
    AS cols \gset
INSERT INTO alert_events SELECT :cols
FROM alert_events x JOIN alerts a ON a.id = x.alert JOIN clone c ON c.tpl = a.patient;

SELECT setval(pg_get_serial_sequence('labwatch.' || t, 'id'), m)
FROM (VALUES ('patients', (SELECT max(id) FROM patients)),
    ('enrollments', (SELECT max(id) FROM enrollments)),
    ('messages', (SELECT max(id) FROM messages)),
    ('observations', (SELECT max(id) FROM observations)),
    ('eligibility', (SELECT max(id) FROM eligibility)),
    ('alerts', (SELECT max(id) FROM alerts)),
    ('alert_events', (SELECT max(id) FROM alert_events))) AS s(t, m);
COMMIT;
