-- 005: alert episodes (CLINICAL.md "Alert episodes", issue 11 item 4). A
-- final result below the alert grade ends the episode: its toxicity alert
-- is resolved by the system, with the result it rests on
-- (resolved_by_observation), and a 'recovery' alert (info) tells the
-- clinician in one line that the value recovered. The next result at or
-- above the alert grade then opens a new alert.
ALTER TABLE alerts ADD COLUMN resolved_by_observation bigint
    REFERENCES observations(id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_kind_check
    CHECK (kind IN ('eligibility', 'toxicity', 'hold', 'resume',
        'data_quality', 'recovery'));
GRANT UPDATE (resolved_by_observation) ON alerts TO labwatch_daemon;
