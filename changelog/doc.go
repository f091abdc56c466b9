// Package changelog brings every node's caches up to date with the store's
// change log (keygate.ChangeLog): a Reconciler reads, every second or so,
// the changes it has not applied yet, whichever node made them, so that a
// change a faster channel lost (Redis pub/sub is at most once) still
// reaches this node's caches within that interval.
package changelog
