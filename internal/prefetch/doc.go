// Package prefetch asks the CPU for memory before it is needed, for the
// request path's hash tables (the key cache, the replay cache).
package prefetch
