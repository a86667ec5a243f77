-- 007: hold and restart as the label writes them (issue 11 item 6). A
-- hold alert ('hold', details->>'event' = 'stop') is resolved by the
-- 'resume' that answers it (superseded_by = the resume) and retracted when
-- the result it rests on is deleted, marked wrong or corrected away; that
-- last lookup, by observation, must find hold alerts already resolved by a
-- correction, which alerts_observation (open and acknowledged only) does
-- not hold. enrollments.hold_state keeps per held rule
-- {"since": epoch, "obs": observation id, "stops": n}; the first form
-- {"rule": epoch} is still read.
CREATE INDEX alerts_hold_observation ON alerts (observation)
    WHERE kind = 'hold';
COMMENT ON COLUMN enrollments.hold_state IS
    'per held rule: {"since": epoch, "obs": observation id, "stops": n}';
