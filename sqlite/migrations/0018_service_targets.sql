-- A service's targets (keygate.Service.Targets: JSON array of {url, weight,
-- color}), retries and health check (JSON object, NULL for none). Every
-- existing service has its URL as its one target.
ALTER TABLE services ADD COLUMN targets TEXT NOT NULL DEFAULT '[]';
ALTER TABLE services ADD COLUMN retries INTEGER NOT NULL DEFAULT 5;
ALTER TABLE services ADD COLUMN healthcheck TEXT;
UPDATE services SET targets = json_array(json_object('url', url, 'weight', 100));
