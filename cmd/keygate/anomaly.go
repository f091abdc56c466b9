package main

import (
	"context"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/anomaly"
	"github.com/keygate/keygate/proxy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
)

// addAnomalyFlags adds the --anomaly-* flags (docs/anomaly.md).
func (c *Config) addAnomalyFlags(fs *pflag.FlagSet) {
	d, a := anomaly.Defaults, &c.Anomaly
	fs.BoolVar(&c.AnomalyDetection, "anomaly", true, "watch each credential's traffic on the gateway and raise anomaly.detected events (webhook, audit trail, keygate_anomalies_total) on spikes, new or distant networks, brute force and revoked keys still tried; see docs/anomaly.md")
	fs.DurationVar(&a.LearnFor, "anomaly-learn-for", d.LearnFor, "how long a credential's baseline (rate, networks) is learned, from its first request this node saw, before its traffic raises alerts")
	fs.Float64Var(&a.SpikeFactor, "anomaly-spike-factor", d.SpikeFactor, "a minute with more than this many times a credential's usual per-minute rate is a spike (at least 1.5)")
	fs.IntVar(&a.SpikeMin, "anomaly-spike-min", d.SpikeMin, "a minute with no more requests than this is never a spike")
	fs.IntVar(&a.NetworkBits4, "anomaly-network-bits-ipv4", d.NetworkBits4, "prefix length of an IPv4 network for new-network alerts")
	fs.IntVar(&a.NetworkBits6, "anomaly-network-bits-ipv6", d.NetworkBits6, "prefix length of an IPv6 network for new-network alerts")
	fs.IntVar(&a.DistantBits4, "anomaly-distant-bits-ipv4", d.DistantBits4, "prefix length of the wider IPv4 networks two of which used at once are distant")
	fs.IntVar(&a.DistantBits6, "anomaly-distant-bits-ipv6", d.DistantBits6, "prefix length of the wider IPv6 networks two of which used at once are distant")
	fs.DurationVar(&a.DistantWindow, "anomaly-distant-window", d.DistantWindow, "two distant networks used within this window are \"at once\"")
	fs.DurationVar(&a.FailureWindow, "anomaly-failure-window", d.FailureWindow, "the window refused credentials are counted in, per client address and per key identifier")
	fs.IntVar(&a.FailuresPerIP, "anomaly-failures-per-ip", d.FailuresPerIP, "refused credentials from one address within the failure window that make a brute force")
	fs.IntVar(&a.FailuresPerKey, "anomaly-failures-per-key", d.FailuresPerKey, "wrong secrets for one key identifier within the failure window that make a brute force")
	fs.DurationVar(&a.Block, "anomaly-block", 0, "refuse (429, before authentication) an address that brute-forced for this long; other addresses, valid keys included, are never affected (0: detect only)")
	fs.DurationVar(&a.Cooldown, "anomaly-cooldown", d.Cooldown, "after an alert, the same kind about the same credential, address or key is not raised again for this long")
	fs.IntVar(&a.MaxCredentials, "anomaly-max-credentials", d.MaxCredentials, "most credentials a node keeps baselines for (a few hundred bytes each, up to 2 KB for one used from many networks); the least recently seen go first")
	fs.IntVar(&a.MaxAddresses, "anomaly-max-addresses", d.MaxAddresses, "most client addresses and key identifiers a node counts refusals for")
}

// newAnomalyDetector builds the detector of a gateway node, nil when off.
// Its alerts are logged, audited and published as anomaly.detected.
func (m *Main) newAnomalyDetector() (proxy.Anomalies, error) {
	cfg := m.Config.Anomaly // validated at the start of Run
	if !m.Config.AnomalyDetection || !m.Config.gateway() {
		return nil, nil
	}
	cfg.Now, cfg.Logger, cfg.Emit = m.Now, m.Logger, m.emitAnomaly
	d, err := anomaly.New(cfg)
	if err != nil {
		return nil, err
	}
	m.Anomaly = d
	reg := m.Metrics.Registry()
	for _, k := range keygate.AnomalyKinds {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "keygate_anomalies_total",
			Help: "Anomaly alerts raised by this node, by kind (docs/anomaly.md).", ConstLabels: prometheus.Labels{"kind": string(k)}},
			func() float64 { return float64(d.Stats().Alerts[k]) }))
	}
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "keygate_anomaly_observations_dropped_total",
		Help: "Requests the anomaly detector did not look at because it was not keeping up."},
		func() float64 { return float64(d.Stats().Dropped) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "keygate_anomaly_blocked_addresses",
		Help: "Client addresses the anomaly detector blocks now (--anomaly-block)."},
		func() float64 { return float64(d.Stats().Blocked) }))
	return d, nil
}

// emitAnomaly logs an alert, records it in the audit trail (actor
// system:anomaly, the explanation as reason) and publishes it to webhooks.
func (m *Main) emitAnomaly(a keygate.Anomaly) {
	m.Logger.Warn("anomaly", "kind", a.Kind, "credential", a.CredentialID, "consumer", a.ConsumerID, "key", a.Key, "ip", a.IP,
		"explanation", a.Explanation)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	actx := keygate.WithReason(keygate.WithActor(ctx, "system:anomaly"), a.Explanation)
	e := &keygate.AuditEvent{Action: "anomaly." + string(a.Kind), TargetKind: "anomaly", TargetID: a.Subject(), Result: keygate.AuditOK}
	if err := m.Store.RecordAudit(actx, e); err != nil {
		m.Logger.Error("anomaly: audit", "kind", a.Kind, "error", err)
	}
	data := map[string]any{"kind": a.Kind, "explanation": a.Explanation, "at": a.At}
	for name, v := range map[string]string{"credential_id": a.CredentialID, "consumer_id": a.ConsumerID, "key": a.Key, "ip": a.IP, "route_id": a.RouteID} {
		if v != "" {
			data[name] = v
		}
	}
	if a.BlockedUntil != nil {
		data["blocked_until"] = a.BlockedUntil
	}
	if err := m.Webhooks.Publish(ctx, keygate.Event{Type: keygate.EventAnomalyDetected, CreatedAt: a.At, ConsumerID: a.ConsumerID, Data: data}); err != nil {
		m.Logger.Error("anomaly: webhook event", "kind", a.Kind, "error", err)
	}
}
