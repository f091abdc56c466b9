package adminapi

import (
	"github.com/keygate/keygate"
)

// permissionRoutes are the permissions and roles keys and consumers hold
// (by name, in their permissions and roles fields), checked by verify
// requests' permission queries and routes' per-method permissions.
func (s *Server) permissionRoutes(h func(pattern string, fn handlerFunc)) {
	h("POST /v1/permissions", create(func() *keygate.Permission { return &keygate.Permission{} }, s.Store.CreatePermission))
	h("GET /v1/permissions", list(s.Store.ListPermissions))
	h("GET /v1/permissions/{permission}", get("permission", s.Store.FindPermission))
	// Only the description can change: keys and roles refer to the name.
	h("PATCH /v1/permissions/{permission}", update("permission", s.Store.UpdatePermission))
	// One a role, a consumer or a key holds is ECONFLICT, which says so.
	h("DELETE /v1/permissions/{permission}", remove("permission", s.Store.DeletePermission))

	h("POST /v1/roles", create(keygate.NewRole, s.Store.CreateRole))
	h("GET /v1/roles", list(s.Store.ListRoles))
	h("GET /v1/roles/{role}", get("role", s.Store.FindRole))
	// permissions, an array, is replaced as a whole; every node's key
	// cache drops its keys (RoleChanged), so the change applies at once.
	h("PATCH /v1/roles/{role}", update("role", s.Store.UpdateRole))
	h("DELETE /v1/roles/{role}", remove("role", s.Store.DeleteRole))
}
