-- Admin token roles (admin, operator, auditor, verifier) are enforced by the
-- admin API; a verifier token may be restricted to the services (ids, a JSON
-- array) whose keys it may verify. '[]': any service.
ALTER TABLE admin_tokens ADD COLUMN services TEXT NOT NULL DEFAULT '[]';
