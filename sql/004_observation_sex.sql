-- 004: the patient's sex (PID-8, M or F; NULL for any other or none) with
-- which the rules read each observation. A sex-specific OBX-7 range
-- ("M 10-50; F 10-35") is resolved with it; labwatchd re-reads a patient's
-- history from these rows and must resolve the range the same way again
-- (issue 11: without it the range would be unreadable on reload).
ALTER TABLE observations ADD COLUMN patient_sex text
    CHECK (patient_sex IN ('M', 'F'));
