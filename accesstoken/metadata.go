package accesstoken

import (
	"errors"
	"net"
	"net/url"
	"strings"
)

// Where the endpoints live below the issuer URL.
const (
	TokenPath         = "/oauth2/token"
	IntrospectionPath = "/oauth2/introspect"
	RevocationPath    = "/oauth2/revoke"
	JWKSPath          = "/oauth2/jwks"
	MetadataPath      = "/.well-known/oauth-authorization-server"
)

// Metadata is the authorization server metadata document (RFC 8414 §2).
type Metadata struct {
	Issuer        string `json:"issuer"`
	TokenEndpoint string `json:"token_endpoint"`
	JWKSURI       string `json:"jwks_uri"`
	// ResponseTypesSupported is required by RFC 8414; keygate has no
	// authorization endpoint, so it is empty.
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	ScopesSupported                            []string `json:"scopes_supported,omitempty"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
}

// NewMetadata builds the document for issuer, an https URL (http only for
// a loopback host, for tests and local development) without query or
// fragment (RFC 8414 §2).
func NewMetadata(issuer string) (*Metadata, error) {
	if err := ValidIssuer(issuer); err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(issuer, "/")
	return &Metadata{
		Issuer:                            issuer,
		TokenEndpoint:                     base + TokenPath,
		JWKSURI:                           base + JWKSPath,
		ResponseTypesSupported:            []string{},
		GrantTypesSupported:               []string{"client_credentials"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		TokenEndpointAuthSigningAlgValuesSupported: []string{ES256, EdDSA},
		IntrospectionEndpoint:                      base + IntrospectionPath,
		RevocationEndpoint:                         base + RevocationPath,
	}, nil
}

// ValidIssuer says what is wrong with an issuer identifier, if anything.
func ValidIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return errors.New("issuer: must be an absolute https URL")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(issuer, "#"):
		return errors.New("issuer: must have no query or fragment")
	case u.User != nil:
		return errors.New("issuer: must have no user info")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return errors.New("issuer: must be an https URL (http only for localhost)")
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
