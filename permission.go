package keygate

import (
	"context"
	"slices"
)

// Permission is a named right a key can hold (documents.read), checked by
// the verify API's permission queries and by routes' per-method
// permissions. Names are lower-case letters, digits and _.:*- ; a name
// ending in "*" grants every name it is a prefix of at a '.' or ':'
// (documents.* grants documents.read). A name cannot change once created
// (keys and roles refer to it by name).
type Permission struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Timestamps
}

// Role is a named set of permissions, attached to keys and consumers.
type Role struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Permissions []string `json:"permissions"`
	Timestamps
}

// NewRole returns an empty role ready to be decoded into.
func NewRole() *Role { return &Role{Permissions: []string{}} }

// Normalize makes nil lists empty. Stores call it before they save.
func (r *Role) Normalize() { r.Permissions = orEmpty(r.Permissions) }

const (
	maxPermissionNameLen = 128
	maxDescriptionLen    = 1024
	// maxGrants bounds the permissions (or roles) of one key, consumer or role.
	maxGrants = 256
)

// ValidPermissionName reports what is wrong with a permission (or role)
// name, "" when nothing is.
func validPermissionName(s string) string {
	if s == "" {
		return "empty"
	}
	if len(s) > maxPermissionNameLen {
		return "longer than 128 characters"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == ':' || c == '*' || c == '-') {
			return "may contain only lower-case letters, digits and _ . : * -"
		}
	}
	if LooksLikeID(s) {
		return "must not have the form of an id"
	}
	return ""
}

// Validate reports the first invalid field.
func (p *Permission) Validate() error {
	if p.Name == "" {
		return Errorf(EINVALID, "name: required")
	}
	if problem := validPermissionName(p.Name); problem != "" {
		return Errorf(EINVALID, "name: %s", problem)
	}
	return validateDescription(p.Description)
}

// Validate reports the first invalid field. That the permissions exist is
// the store's to check.
func (r *Role) Validate() error {
	if r.Name == "" {
		return Errorf(EINVALID, "name: required")
	}
	if problem := validPermissionName(r.Name); problem != "" {
		return Errorf(EINVALID, "name: %s", problem)
	}
	if err := validateDescription(r.Description); err != nil {
		return err
	}
	return ValidateGrants("permissions", r.Permissions)
}

func validateDescription(s string) error {
	if len(s) > maxDescriptionLen {
		return Errorf(EINVALID, "description: longer than %d characters", maxDescriptionLen)
	}
	return checkText("description", s)
}

// ValidateGrants checks a list of permission or role names (of a key, a
// consumer or a role): valid names, each once, at most 256.
func ValidateGrants(field string, names []string) error {
	if len(names) > maxGrants {
		return Errorf(EINVALID, "%s: at most %d entries", field, maxGrants)
	}
	for i, n := range names {
		if problem := validPermissionName(n); problem != "" {
			return Errorf(EINVALID, "%s[%d]: %s", field, i, problem)
		}
		if slices.Index(names, n) != i {
			return Errorf(EINVALID, "%s[%d]: %q listed twice", field, i, n)
		}
	}
	return nil
}

// EffectivePermissions is what a key holds: its own permissions, its
// consumer's, and those of its and its consumer's roles (rolePermissions,
// by role name), sorted, each once; and its and its consumer's roles,
// sorted, each once. c may be nil.
func EffectivePermissions(k *APIKey, c *Consumer, rolePermissions map[string][]string) (perms, roles []string) {
	perms = append(perms, k.Permissions...)
	roles = append(roles, k.Roles...)
	if c != nil {
		perms = append(perms, c.Permissions...)
		roles = append(roles, c.Roles...)
	}
	for _, r := range roles {
		perms = append(perms, rolePermissions[r]...)
	}
	slices.Sort(perms)
	slices.Sort(roles)
	return slices.Compact(perms), slices.Compact(roles)
}

// PermissionQuery is a compiled permission query (see package permquery):
// whether a sorted set of permissions satisfies it.
type PermissionQuery interface {
	Allows(perms []string) bool
}

// PermissionStore persists permissions and roles. Every method is one
// transaction. Refs are ids or names.
type PermissionStore interface {
	// CreatePermission assigns ID and timestamps; a taken name is ECONFLICT.
	CreatePermission(ctx context.Context, p *Permission) error
	FindPermission(ctx context.Context, ref string) (*Permission, error)
	ListPermissions(ctx context.Context, p Page) (perms []*Permission, next string, err error)
	// UpdatePermission may change the description; a new name is EINVALID.
	UpdatePermission(ctx context.Context, ref string, update func(*Permission) error) (*Permission, error)
	// DeletePermission deletes a permission no role, key or consumer holds;
	// one in use is ECONFLICT saying by how many.
	DeletePermission(ctx context.Context, ref string) error

	// CreateRole assigns ID and timestamps; a taken name is ECONFLICT, a
	// permission that does not exist ENOTFOUND naming it.
	CreateRole(ctx context.Context, r *Role) error
	FindRole(ctx context.Context, ref string) (*Role, error)
	ListRoles(ctx context.Context, p Page) (roles []*Role, next string, err error)
	// UpdateRole may change the description and the permissions (reported
	// as a RoleChanged, on which caches of keys drop them all); a new name
	// is EINVALID.
	UpdateRole(ctx context.Context, ref string, update func(*Role) error) (*Role, error)
	// DeleteRole deletes a role no key or consumer holds; one in use is
	// ECONFLICT.
	DeleteRole(ctx context.Context, ref string) error
}
