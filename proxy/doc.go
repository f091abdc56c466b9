// Package proxy is the data plane: it matches a request to a route,
// authenticates it with the route's credential kinds, applies the route's ACL,
// and forwards it to the route's service with the caller's identity in headers.
package proxy
