// Package redis enforces usage plans' limits for a whole cluster in Redis:
// GCRA and calendar quotas in one Lua script on Redis's own clock, so that a
// decision is one atomic round trip and every node counts on one timeline.
package redis
