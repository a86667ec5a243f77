-- 013_board_indexes.sql: what the board's pages read at 10,000 patients
-- and a million observations (bench/run-board, BENCHMARKS.md).

-- The latest verdict of a patient in a protocol (the screening page,
-- labwatch status): one index probe instead of the patient's rows sorted.
CREATE INDEX eligibility_latest
    ON eligibility (patient, protocol, evaluated_at DESC, id DESC);

-- The alerts page: a state's alerts, the most severe first, then the
-- newest (cli/board_pages.c's SEVERITY_RANK: the same expression), read
-- in order and stopped after a page instead of all of them sorted; kind
-- included for the open alerts counted by kind (the status page).
CREATE INDEX alerts_board ON alerts (state,
    (CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END),
    id DESC) INCLUDE (kind);
-- The same over every state, open ones first (?state=all, STATE_RANK).
CREATE INDEX alerts_board_all ON alerts (
    (CASE state WHEN 'open' THEN 0 WHEN 'acknowledged' THEN 1 ELSE 2 END),
    (CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END),
    id DESC);

-- The status counts of messages (labwatch status, the board): ignored
-- ones counted from here (few, so it costs the writer next to nothing),
-- quarantined ones from messages_quarantined, the total from the primary
-- key; no longer every message read.
CREATE INDEX messages_ignored ON messages (id) WHERE outcome = 'ignored';
