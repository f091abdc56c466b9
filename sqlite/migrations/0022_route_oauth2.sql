-- A route's oauth2 (keygate.OAuth2AuthConfig): JSON, NULL when the route
-- takes no OAuth 2.0 access tokens.
ALTER TABLE routes ADD COLUMN oauth2 TEXT;
