-- 016: the eligibility and data_quality alerts of a patient by its row id
-- (issue 13 item 5, `labwatch reevaluate` judges them again). reevaluate
-- reads the alerts of a batch of patients at once (patient = ANY), one
-- part per kind on its own index (009, 012, 015); these two kinds had
-- none, so each batch would read the whole table.
CREATE INDEX alerts_quality_patient ON alerts (patient, protocol)
    WHERE kind IN ('eligibility', 'data_quality');
