package keygate

import (
	"time"
)

// AnomalyKind names what the anomaly detector (package anomaly) saw.
type AnomalyKind string

const (
	// AnomalyTrafficSpike: a credential's requests this minute are far
	// above its learned per-minute rate.
	AnomalyTrafficSpike AnomalyKind = "traffic_spike"
	// AnomalyNewNetwork: a credential is used from a network (/24, /48) it
	// was not used from while its baseline was learned.
	AnomalyNewNetwork AnomalyKind = "new_network"
	// AnomalyDistantNetworks: a credential is used from two different wide
	// networks (/16, /32) within a short window. Network distance, not
	// geography.
	AnomalyDistantNetworks AnomalyKind = "distant_networks"
	// AnomalyBruteForceIP: one client address presented many refused
	// credentials within a window.
	AnomalyBruteForceIP AnomalyKind = "brute_force_ip"
	// AnomalyBruteForceKey: one key identifier was presented with many
	// wrong secrets within a window.
	AnomalyBruteForceKey AnomalyKind = "brute_force_key"
	// AnomalyRevokedKeyUsed: a revoked (or reported leaked, hence revoked)
	// key is still being presented.
	AnomalyRevokedKeyUsed AnomalyKind = "revoked_key_used"
)

// AnomalyKinds lists every kind, for metrics and validation.
var AnomalyKinds = []AnomalyKind{AnomalyTrafficSpike, AnomalyNewNetwork, AnomalyDistantNetworks,
	AnomalyBruteForceIP, AnomalyBruteForceKey, AnomalyRevokedKeyUsed}

// Anomaly is one alert of the anomaly detector: what was seen, about which
// credential or address, explained in words for a person. It never holds
// a secret: a key is named by its record id or, when none was found, by
// its display hint (prefix and the start of the identifier).
type Anomaly struct {
	Kind         AnomalyKind `json:"kind"`
	CredentialID string      `json:"credential_id,omitempty"`
	ConsumerID   string      `json:"consumer_id,omitempty"`
	// Key is the display hint of the key identifier presented, for
	// brute_force_key (no record was found to name).
	Key string `json:"key,omitempty"`
	IP  string `json:"ip,omitempty"`
	// RouteID is the route of the request that raised the alert.
	RouteID     string    `json:"route_id,omitempty"`
	Explanation string    `json:"explanation"`
	At          time.Time `json:"at"`
	// BlockedUntil is set when the client address is refused until then
	// (brute_force_ip with blocking on).
	BlockedUntil *time.Time `json:"blocked_until,omitempty"`
}

// Subject is what the alert is about, for the audit trail's target: the
// credential, else the key hint, else the address.
func (a *Anomaly) Subject() string {
	switch {
	case a.CredentialID != "":
		return a.CredentialID
	case a.Key != "":
		return a.Key
	}
	return a.IP
}
