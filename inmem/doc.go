// Package inmem enforces usage plans' limits on one node, in memory: GCRA
// for rates and counters per UTC calendar window for quotas, in 64 sharded
// tables with no global lock, allocation-free once a subject is known.
package inmem
