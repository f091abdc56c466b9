// Package redis enforces rate limits shared by every node of a cluster, in
// Redis: GCRA in one Lua script, so a decision is one round trip and atomic.
package redis
