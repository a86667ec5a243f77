-- 014: the screening page's verdict filter (issue 17 item 6,
-- bench/run-board). Filtering by verdict reads every screening patient's
-- latest eligibility row; with the verdict in the index (INCLUDE status)
-- each of those probes is index-only, the table is not read. It replaces
-- 013's eligibility_latest, the same keys without the status.
CREATE INDEX eligibility_latest_status
    ON eligibility (patient, protocol, evaluated_at DESC, id DESC)
    INCLUDE (status);
DROP INDEX eligibility_latest;

-- The patients in screening (the screening page's counts and walks):
-- 4,000 of 10,000 enrollments read from here, not the whole table. The
-- writer's per-verdict UPDATE of enrollments changes neither column.
CREATE INDEX enrollments_screening ON enrollments (patient, protocol)
    WHERE phase = 'screening';
