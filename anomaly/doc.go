// Package anomaly watches the gateway's request outcomes, keeps a baseline
// per credential (request rate, source networks) and per client address and
// key identifier (refused credentials), and raises a keygate.Anomaly when
// traffic leaves it: a spike, a new or a distant network, a brute force, a
// revoked key still tried. The request path only hands it an Observation
// (Detector.Observe: a non-blocking send, no allocation); one goroutine
// (Detector.Run) does the bookkeeping.
package anomaly
