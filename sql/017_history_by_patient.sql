-- 017: a patient's results in stored order (issue 13, `labwatch
-- reevaluate`). reevaluate reads the results of a batch of 128 patients
-- at once (patient = ANY, ORDER BY patient, id: rows.h's
-- ROWS_HISTORY_FILTER, the rows a history is built from); on
-- observations_patient (patient, analyte, observed_at) PostgreSQL sorted
-- each batch's ~180,000 rows, spilling to disk. A btree scan of this
-- index with the = ANY on its first column returns them in that order
-- already (no sort). One more index entry per stored result.
CREATE INDEX observations_history ON observations (patient, id)
    WHERE analyte IS NOT NULL OR problem = 'code_conflict';
