-- 012: the recovery lines of a patient by its row id (issue 13,
-- `labwatch reevaluate`). reevaluate reads the toxicity and recovery
-- alerts of a batch of patients at once (patient = ANY); toxicity ones
-- have alerts_toxicity_patient (009), recovery ones had only their
-- observation (alerts_recovery_observation), so each batch joined every
-- observation of its patients again, or read the whole table.
CREATE INDEX alerts_recovery_patient ON alerts (patient, protocol)
    WHERE kind = 'recovery';
