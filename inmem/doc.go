// Package inmem enforces rate limits on one node, in memory: GCRA (the
// generic cell rate algorithm) per limited subject, in sharded tables, with
// no global lock on the request path.
package inmem
