-- 002: observations without per-row foreign keys to messages and patients.
--
-- Each FOREIGN KEY costs one lookup and row lock per inserted observation
-- (about seven per message); together they were a quarter of labwatchd's
-- throughput at 16 senders (bench/run-daemon, BENCHMARKS.md). The links
-- still hold by construction: labwatchd inserts a message's observations
-- in the transaction that inserts the message and its patient, with the
-- ids that transaction got back, and no role may delete or update those
-- ids (labwatch_daemon has INSERT and SELECT only on messages and
-- patients). The test suites check after every load that no observation
-- points at a missing message or patient (tests/store_db.sh,
-- tests/daemon_db.sh). The indexes that serve the joins stay.
ALTER TABLE observations
    DROP CONSTRAINT IF EXISTS observations_message_fkey,
    DROP CONSTRAINT IF EXISTS observations_patient_fkey;
