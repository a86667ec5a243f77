-- 003: indexes for the writer's alert lookups by patient and by
-- observation. labwatchd prepares its statements once per session; on a
-- young database their plans are made when alerts is nearly empty, and a
-- sequential scan then stays for as long as the session lives. With these
-- the lookups are index scans whatever the table's size.
DROP INDEX IF EXISTS alerts_patient_open;
CREATE INDEX alerts_patient_open ON alerts (patient, protocol)
    WHERE state IN ('open', 'acknowledged');
CREATE INDEX alerts_observation ON alerts (observation)
    WHERE state IN ('open', 'acknowledged');
