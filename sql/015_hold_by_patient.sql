-- 015: the hold and resume alerts of a patient by its row id (issue 13,
-- `labwatch reevaluate` judges them again). reevaluate reads the alerts
-- of a batch of patients at once (patient = ANY); toxicity and recovery
-- ones have their indexes (009, 012), hold ones had only their
-- observation (007) and resume ones none, so each batch read the whole
-- table.
CREATE INDEX alerts_hold_patient ON alerts (patient, protocol)
    WHERE kind IN ('hold', 'resume');
