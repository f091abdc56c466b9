-- Webhooks (keygate.WebhookStore): subscriptions, the events sent to them
-- and one delivery per event and webhook. A webhook's signing secret is
-- sealed: secret holds the ciphertext, and its data key is the data_keys row
-- (kind 'webhook_secret', the webhook's id).

CREATE TABLE webhooks (
	id          TEXT PRIMARY KEY NOT NULL,
	consumer_id TEXT REFERENCES consumers(id) ON DELETE CASCADE, -- NULL: global
	url         TEXT NOT NULL,
	events      TEXT NOT NULL DEFAULT '[]', -- JSON array of event types
	enabled     BOOLEAN NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	secret      BYTEA NOT NULL, -- the ciphertext
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL
);
CREATE INDEX webhooks_consumer_id ON webhooks(consumer_id);

-- Deleting a webhook, directly or by the cascade from its consumer, deletes
-- its data key too (crypto-shredding), as for HMAC credentials.
CREATE FUNCTION webhooks_shred() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM data_keys WHERE kind = 'webhook_secret' AND id = OLD.id;
	RETURN NULL;
END $$;
CREATE TRIGGER webhooks_shred AFTER DELETE ON webhooks
	FOR EACH ROW EXECUTE FUNCTION webhooks_shred();

-- An event is stored once, with the body every delivery of it sends. It
-- names its consumer without a foreign key: a global webhook still hears of
-- a consumer's last events after the consumer is deleted.
CREATE TABLE webhook_events (
	id          TEXT PRIMARY KEY NOT NULL,
	type        TEXT NOT NULL,
	consumer_id TEXT,
	payload     TEXT NOT NULL, -- the JSON body sent
	created_at  BIGINT NOT NULL
);
CREATE INDEX webhook_events_created_at ON webhook_events(created_at);

-- A pending delivery is due at next_attempt_at; a sender that claims it sets
-- lease and moves next_attempt_at to the lease's end, so that no one else
-- claims it meanwhile and a sender that dies only delays it.
CREATE TABLE webhook_deliveries (
	id              TEXT PRIMARY KEY NOT NULL,
	webhook_id      TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
	event_id        TEXT NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
	status          TEXT NOT NULL, -- pending, delivered, failed
	attempts        BIGINT NOT NULL DEFAULT 0,
	next_attempt_at BIGINT,       -- NULL once delivered or failed
	lease           TEXT,          -- the current claim, NULL when none
	last_status     BIGINT,
	last_error      TEXT,
	created_at      BIGINT NOT NULL,
	updated_at      BIGINT NOT NULL,
	delivered_at    BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries(webhook_id) WHERE lease IS NOT NULL;
CREATE INDEX webhook_deliveries_webhook_id ON webhook_deliveries(webhook_id, id);
CREATE INDEX webhook_deliveries_event_id ON webhook_deliveries(event_id);
CREATE INDEX webhook_deliveries_created_at ON webhook_deliveries(created_at);
