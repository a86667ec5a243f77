-- 009: indexes for alert episodes (review of the withdraw merge, defect 4).
-- sel_open_alerts reads, on each patient load, the toxicity alerts of the
-- patient that are open, acknowledged or resolved by a result (an ended
-- episode a withdrawal may reopen), and the newest toxicity alert of each
-- analyte; alerts_patient_open covers state = 'open' only, so it read the
-- whole table. upd_recovery_retracted finds the recovery line of a
-- withdrawn result by observation (alerts_observation holds open and
-- acknowledged alerts only).
CREATE INDEX alerts_toxicity_patient ON alerts (patient, protocol, analyte, id)
    WHERE kind = 'toxicity';
CREATE INDEX alerts_recovery_observation ON alerts (observation)
    WHERE kind = 'recovery';
