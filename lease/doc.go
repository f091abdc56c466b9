// Package lease runs a job on one node of a cluster at a time: the node that
// holds the job's lease in the store (keygate.LeaseStore), and takes over on
// another node when that one stops renewing it.
package lease
