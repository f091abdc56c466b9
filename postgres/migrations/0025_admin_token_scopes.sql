-- Admin token roles (admin, operator, auditor, verifier) are enforced by the
-- admin API. A verifier token may be restricted to the services (ids, a JSON
-- array) whose keys it may verify; an operator or auditor token may be
-- scoped to some consumers (ids, a JSON array), as a portal's is. '[]': none.
ALTER TABLE admin_tokens ADD COLUMN services TEXT NOT NULL DEFAULT '[]';
ALTER TABLE admin_tokens ADD COLUMN consumers TEXT NOT NULL DEFAULT '[]';
