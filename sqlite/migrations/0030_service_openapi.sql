-- A service's OpenAPI document (JSON), which the consumer portal renders as
-- the service's API docs; '' for none.
ALTER TABLE services ADD COLUMN openapi TEXT NOT NULL DEFAULT '';
