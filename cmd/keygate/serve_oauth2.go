package main

import (
	"net"

	"github.com/keygate/keygate/auth/oauth2"
	"github.com/keygate/keygate/keyring"
)

// newOAuth2Provider builds what routes with oauth2 verify access tokens
// with: keygate's own issuer (keys read from the store, opened with the
// keyring) and the external issuers' JWKS caches. The denylist of revoked
// tokens comes with the token service.
func (m *Main) newOAuth2Provider(ring *keyring.Keyring) *oauth2.Provider {
	issuer := m.oauth2LocalIssuer()
	return oauth2.NewProvider(m.Store, oauth2.Options{
		Local:  &oauth2.Local{Issuer: issuer, Audience: issuer, Keys: oauth2.LocalKeys(m.Store, ring)},
		Now:    m.Now,
		Logger: m.Logger,
	})
}

// oauth2LocalIssuer is the "iss" of keygate's own access tokens. Until the
// token service's --oauth2-issuer is wired in, it is derived from the
// proxy listener's address, as that flag's default is; its tokens'
// audience defaults to the issuer.
func (m *Main) oauth2LocalIssuer() string {
	host, port, err := net.SplitHostPort(m.Config.ProxyListen)
	if err != nil {
		return "http://localhost"
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
