-- Verification counts (keygate.VerificationStore): how often each key was
-- judged with each outcome code per hour (unix seconds of its start, UTC),
-- by the gateway or the verify API. '' where there is none (a key not
-- found has no key or consumer). No foreign keys, as for usage: the
-- history outlives what it counts.
CREATE TABLE verification_counts (
	hour        BIGINT NOT NULL,
	key_id      TEXT NOT NULL DEFAULT '',
	consumer_id TEXT NOT NULL DEFAULT '',
	service_id  TEXT NOT NULL DEFAULT '',
	source      TEXT NOT NULL,
	code        TEXT NOT NULL,
	n           BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (hour, key_id, consumer_id, service_id, source, code)
);
CREATE INDEX verification_counts_key ON verification_counts (key_id, hour);
CREATE INDEX verification_counts_consumer ON verification_counts (consumer_id, hour);
