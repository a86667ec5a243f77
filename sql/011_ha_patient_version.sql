-- 011: several labwatchd on one database (issue 15, DESIGN.md "Several
-- daemons, one truth").
--
-- patients.version: bumped by every batch that writes the patient, under
-- the patient's transaction-scoped advisory lock (store/ingest.c
-- lock_patients, bump_patients). A writer whose cached version is not the
-- one before its own bump knows another daemon wrote the patient since it
-- loaded it, and reloads the patient's enrollment, history and alerts
-- before judging.
ALTER TABLE patients ADD COLUMN version bigint NOT NULL DEFAULT 0;
GRANT UPDATE (version) ON patients TO labwatch_daemon;

-- One open episode per patient, protocol and analyte: at most one toxicity
-- alert open or acknowledged (an escalation resolves the alert it
-- supersedes; a result below the alert grade resolves it). Checked at
-- COMMIT (deferred), since within a batch an escalation inserts the new
-- alert before it resolves the old one. The per-patient lock makes a
-- violation impossible for labwatchd; the constraint is the backstop that
-- refuses a duplicate alert whatever wrote it.
ALTER TABLE alerts ADD CONSTRAINT alerts_one_open_episode
    EXCLUDE USING btree (patient WITH =, protocol WITH =, analyte WITH =)
    WHERE (kind = 'toxicity' AND state IN ('open', 'acknowledged'))
    DEFERRABLE INITIALLY DEFERRED;

-- A database whose alerts already break it (written before this
-- migration, by hand or by an older labwatch): `labwatch migrate` fails
-- here and rolls this file back whole (the schema stays at 010).
-- List the episodes with more than one open alert:
--   SELECT patient, protocol, analyte, array_agg(id ORDER BY id)
--   FROM labwatch.alerts
--   WHERE kind = 'toxicity' AND state IN ('open', 'acknowledged')
--   GROUP BY patient, protocol, analyte
--   HAVING count(*) > 1;
-- Have a clinician settle each: `labwatch resolve ALERT_ID --by NAME
-- --note TEXT` on every alert but the one that stands (usually the
-- newest, of the highest grade), then run `labwatch migrate` again.
