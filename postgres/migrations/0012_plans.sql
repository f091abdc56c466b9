-- Usage plans (keygate.Plan) and the usage counts the gateway records.

CREATE TABLE plans (
	id           TEXT PRIMARY KEY,
	name         TEXT NOT NULL UNIQUE,
	description  TEXT NOT NULL DEFAULT '',
	rate         DOUBLE PRECISION NOT NULL DEFAULT 0, -- requests per second, 0: none
	burst        BIGINT NOT NULL DEFAULT 0,
	quota_minute BIGINT NOT NULL DEFAULT 0, -- 0: none
	quota_hour   BIGINT NOT NULL DEFAULT 0,
	quota_day    BIGINT NOT NULL DEFAULT 0,
	quota_month  BIGINT NOT NULL DEFAULT 0,
	limit_by     TEXT NOT NULL,
	tags         TEXT NOT NULL DEFAULT '[]',
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL
);

-- A plan's adjustments for single routes, in the order given. A route a
-- plan adjusts cannot be deleted (as a service with routes cannot): the
-- plan would silently change.
CREATE TABLE plan_routes (
	plan_id  TEXT NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
	position BIGINT NOT NULL,
	route_id TEXT NOT NULL REFERENCES routes(id) ON DELETE RESTRICT,
	cost     BIGINT NOT NULL DEFAULT 0,
	rate     DOUBLE PRECISION,    -- NULL: the plan's
	burst    BIGINT NOT NULL DEFAULT 0,
	quotas   TEXT,    -- JSON keygate.Quotas, NULL: the plan's
	PRIMARY KEY (plan_id, position),
	UNIQUE (plan_id, route_id)
);
CREATE INDEX plan_routes_route_id ON plan_routes(route_id);

-- A consumer's plan, and a key's own (overriding its consumer's); NULL:
-- none. A plan in use cannot be deleted.
ALTER TABLE consumers ADD COLUMN plan_id TEXT REFERENCES plans(id) ON DELETE RESTRICT;
ALTER TABLE api_keys ADD COLUMN plan_id TEXT REFERENCES plans(id) ON DELETE RESTRICT;
CREATE INDEX consumers_plan_id ON consumers(plan_id) WHERE plan_id IS NOT NULL;
CREATE INDEX api_keys_plan_id ON api_keys(plan_id) WHERE plan_id IS NOT NULL;

-- Usage counts per minute (unix seconds of its start, UTC), consumer,
-- credential and route; '' where the request had none. No foreign keys:
-- the history outlives the keys, consumers and routes it counts.
CREATE TABLE usage (
	minute        BIGINT NOT NULL,
	consumer_id   TEXT NOT NULL DEFAULT '',
	credential_id TEXT NOT NULL DEFAULT '',
	route_id      TEXT NOT NULL DEFAULT '',
	allowed       BIGINT NOT NULL DEFAULT 0,
	rejected      BIGINT NOT NULL DEFAULT 0,
	bytes_in      BIGINT NOT NULL DEFAULT 0,
	bytes_out     BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (minute, consumer_id, credential_id, route_id)
);
CREATE INDEX usage_consumer ON usage(consumer_id, minute);
CREATE INDEX usage_credential ON usage(credential_id, minute);
CREATE INDEX usage_route ON usage(route_id, minute);
