-- 018: the last message received (labwatch status, the board's status
-- page). With several labwatchd on one database ids are not in the order
-- of arrival (each reserves its ids ahead), so the highest id is not the
-- latest message; max(received_at) without an index reads every message.
-- Read backward, this index gives the latest received time at once, ties
-- broken by id. One more index entry per stored message.
CREATE INDEX messages_received ON messages (received_at, id);
