// Package webhook sends keygate's events to the webhooks subscribed to them:
// a Dispatcher queues each published event in the store (quickly, never
// sending inline) and a background loop delivers the queue, signed and
// retried with backoff. Verify is for receivers: it checks the
// Keygate-Signature header of a delivery.
package webhook
