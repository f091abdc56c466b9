package keygate

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Webhook is a subscription: keygate POSTs each event of the listed types to
// URL, signed with a secret that keygate generates, shows once (in
// IssuedWebhook) and keeps sealed by the keyring, like an HMAC credential's.
// A webhook of a consumer hears that consumer's events; a global one
// (ConsumerID empty) hears every event.
type Webhook struct {
	ID          string   `json:"id"`
	ConsumerID  string   `json:"consumer_id,omitempty"` // empty: global
	URL         string   `json:"url"`
	Events      []string `json:"events"` // a non-empty subset of EventTypes
	Enabled     bool     `json:"enabled"`
	Description string   `json:"description"`
	Timestamps
}

// SealedWebhookSecret is the Sealed.Kind of webhook signing secrets; the
// Sealed.ID is the webhook's id.
const SealedWebhookSecret = "webhook_secret"

// EventWebhookTest is the type of the ping POST /v1/webhooks/{id}/test
// sends. It goes to that one webhook, whatever events it subscribes to and
// even while it is disabled (to check a receiver before enabling it), so it
// is not in EventTypes: nobody subscribes to it.
const EventWebhookTest = "webhook.test"

// Limits of a webhook.
const (
	maxWebhookURLLen         = 2048
	maxWebhookDescriptionLen = 512
	maxEventTypeLen          = 64
)

// Normalize makes nil lists empty. Stores call it before they save.
func (w *Webhook) Normalize() { w.Events = orEmpty(w.Events) }

// Validate reports the first invalid field.
func (w *Webhook) Validate() error {
	if _, err := ParseWebhookURL(w.URL); err != nil {
		return err
	}
	if err := ValidateEventTypes(w.Events); err != nil {
		return err
	}
	switch d := w.Description; {
	case len(d) > maxWebhookDescriptionLen:
		return Errorf(EINVALID, "description: longer than %d characters", maxWebhookDescriptionLen)
	case !utf8.ValidString(d):
		return Errorf(EINVALID, "description: must be UTF-8")
	case strings.ContainsFunc(d, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }):
		return Errorf(EINVALID, "description: must not contain control characters")
	}
	return nil
}

// ParseWebhookURL parses and checks a webhook's URL: http or https, a host,
// no credentials (a secret in the URL would show wherever the webhook is
// listed), no fragment. A query is allowed.
func ParseWebhookURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, Errorf(EINVALID, "url: required")
	}
	if len(raw) > maxWebhookURLLen {
		return nil, Errorf(EINVALID, "url: longer than %d characters", maxWebhookURLLen)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || hasControl(raw):
		return nil, Errorf(EINVALID, "url: not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, Errorf(EINVALID, "url: scheme must be http or https")
	case u.Host == "" || u.Hostname() == "":
		return nil, Errorf(EINVALID, "url: host required")
	case u.User != nil:
		return nil, Errorf(EINVALID, "url: must not contain credentials")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, Errorf(EINVALID, "url: must not contain a fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, Errorf(EINVALID, "url: port must be from 1 to 65535")
		}
	}
	return u, nil
}

// ValidateEventTypes checks a subscription's event types: at least one,
// each in EventTypes, none twice.
func ValidateEventTypes(events []string) error {
	if len(events) == 0 {
		return Errorf(EINVALID, "events: at least one event type is required (any of %s)", strings.Join(EventTypes, ", "))
	}
	for i, e := range events {
		switch {
		case len(e) > maxEventTypeLen || !slices.Contains(EventTypes, e):
			return Errorf(EINVALID, "events: unknown event type %q (want any of %s)", truncate(e, maxEventTypeLen), strings.Join(EventTypes, ", "))
		case slices.Contains(events[:i], e):
			return Errorf(EINVALID, "events: %q is listed twice", e)
		}
	}
	return nil
}

// truncate cuts s to at most n bytes on a rune boundary, for messages that
// quote a value the client sent.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// WebhookRequest is the body of POST /v1/webhooks (a global webhook) and of
// POST /v1/consumers/{consumer}/webhooks.
type WebhookRequest struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description,omitempty"`
	Enabled     *bool    `json:"enabled,omitempty"` // default true
}

// Webhook returns the webhook the request describes, for consumerID ("":
// global).
func (r *WebhookRequest) Webhook(consumerID string) *Webhook {
	w := &Webhook{ConsumerID: consumerID, URL: r.URL, Events: orEmpty(r.Events), Enabled: true, Description: r.Description}
	if r.Enabled != nil {
		w.Enabled = *r.Enabled
	}
	return w
}

// WebhookPatch is the body of PATCH /v1/webhooks/{id}: the fields given
// change, the others stay.
type WebhookPatch struct {
	URL         *string   `json:"url,omitempty"`
	Events      *[]string `json:"events,omitempty"`
	Enabled     *bool     `json:"enabled,omitempty"`
	Description *string   `json:"description,omitempty"`
}

// Apply sets the given fields on w and validates the result.
func (p *WebhookPatch) Apply(w *Webhook) error {
	if p.URL != nil {
		w.URL = *p.URL
	}
	if p.Events != nil {
		w.Events = orEmpty(*p.Events)
	}
	if p.Enabled != nil {
		w.Enabled = *p.Enabled
	}
	if p.Description != nil {
		w.Description = *p.Description
	}
	return w.Validate()
}

// IssuedWebhook is the only response that contains the signing secret.
type IssuedWebhook struct {
	Webhook
	Secret string `json:"secret"`
}

// WebhookSecretPrefix starts every webhook signing secret, so that one is
// recognisable in a config file or a leak report.
const WebhookSecretPrefix = "whsec_"

// NewWebhookSecret returns a new signing secret: the prefix and 256 random
// bits in unpadded base32 (letters and digits, selected whole by a
// double-click). Receivers use the whole string, prefix included, as the
// HMAC key.
func NewWebhookSecret() string {
	return WebhookSecretPrefix + rand.Text() + rand.Text()
}

// DeliveryStatus is where a webhook delivery stands.
type DeliveryStatus string

const (
	// DeliveryPending is waiting for its first or next attempt, or being sent.
	DeliveryPending DeliveryStatus = "pending"
	// DeliveryDelivered was answered with a 2xx.
	DeliveryDelivered DeliveryStatus = "delivered"
	// DeliveryFailed was given up on after its last attempt.
	DeliveryFailed DeliveryStatus = "failed"
)

// WebhookDelivery is one event on its way to one webhook, with the outcome
// of its last attempt. It never holds the webhook's secret.
type WebhookDelivery struct {
	ID        string          `json:"id"`
	WebhookID string          `json:"webhook_id"`
	EventID   string          `json:"event_id"`
	EventType string          `json:"event_type"`
	Payload   json.RawMessage `json:"payload"` // the body sent: the event as JSON
	// Attempts counts the attempts started, the one in progress included.
	Attempts int            `json:"attempts"`
	Status   DeliveryStatus `json:"status"`
	// NextAttemptAt is when a pending delivery is due; while one is being
	// sent, when its sender's lease runs out. Nil once it is delivered or
	// failed.
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	LastStatus    int        `json:"last_status,omitempty"` // the last answer's HTTP status; 0: none
	LastError     string     `json:"last_error,omitempty"`  // why the last attempt failed, briefly
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
}

// ClaimedDelivery is a delivery leased to one sender, with what sending it
// takes. The secret is sealed; the sender opens it with the keyring.
type ClaimedDelivery struct {
	WebhookDelivery
	URL    string
	Secret *Sealed
	// Lease identifies this claim: RecordAttempt must name it, so that a
	// sender whose lease ran out cannot overwrite the outcome of the sender
	// that claimed the delivery after it.
	Lease string
}

// WebhookAttempt is the outcome of one attempt at a claimed delivery.
type WebhookAttempt struct {
	Lease      string // ClaimedDelivery.Lease
	Delivered  bool
	StatusCode int    // the HTTP status received; 0: none (a network error)
	Error      string // why it failed, briefly; never a secret. Stores keep MaxDeliveryErrorLen bytes.
	// RetryAt, when the attempt failed, is when to try again; nil gives up:
	// the delivery is failed for good.
	RetryAt *time.Time
}

// MaxLeasedPerWebhook is how many deliveries of one webhook may be in
// flight at once, across every node: a receiver that hangs ties up that many
// senders at most, not all of them, and one that answers gets its events
// nearly in order.
const MaxLeasedPerWebhook = 2

// MaxDeliveryErrorLen bounds WebhookDelivery.LastError, in bytes.
const MaxDeliveryErrorLen = 256

// TruncateDeliveryError cuts msg to MaxDeliveryErrorLen bytes.
func TruncateDeliveryError(msg string) string { return truncate(msg, MaxDeliveryErrorLen-len("…")) }

// WebhookFilter narrows a list of webhooks; the zero value lists all.
type WebhookFilter struct {
	ConsumerID string
}

// WebhookDeliveryFilter narrows a list of deliveries.
type WebhookDeliveryFilter struct {
	WebhookID string         // required
	Status    DeliveryStatus // "": any
}

// ValidEventID reports whether an event id is one keygate sends as is in
// the Keygate-Event-Id header: 1-128 letters, digits, '.', '_' or '-'.
func ValidEventID(id string) bool { return ValidRequestID(id) }

// WebhookStore persists webhooks, the events they are sent and the
// deliveries of those events. Every method is one transaction.
type WebhookStore interface {
	// CreateWebhook assigns ID and timestamps, calls seal with the new id
	// and stores w with the sealed secret seal returns (kind
	// SealedWebhookSecret, the webhook's id), in one transaction. A
	// ConsumerID (id or username) must name a consumer (ENOTFOUND) and is
	// stored as its id.
	CreateWebhook(ctx context.Context, w *Webhook, seal func(id string) (*Sealed, error)) error
	// FindWebhook returns a webhook by id, without its secret.
	FindWebhook(ctx context.Context, id string) (*Webhook, error)
	// ListWebhooks lists webhooks in creation order.
	ListWebhooks(ctx context.Context, f WebhookFilter, p Page) (webhooks []*Webhook, next string, err error)
	// UpdateWebhook applies update to the stored webhook and saves its URL,
	// events, enabled and description, atomically; the other fields are the
	// store's. update validates; its error aborts the change.
	UpdateWebhook(ctx context.Context, id string, update func(*Webhook) error) (*Webhook, error)
	// DeleteWebhook deletes a webhook, its deliveries and its secret's data
	// key (crypto-shredding).
	DeleteWebhook(ctx context.Context, id string) error

	// EnqueueEvent stores e and one pending delivery, due at once, for each
	// enabled webhook subscribed to e.Type that is global or e.ConsumerID's,
	// in one transaction, and returns how many it queued. It assigns e.ID
	// when empty and e.CreatedAt when zero. An event whose id is stored
	// already is not queued again (0, nil), so that jobs on several nodes
	// may publish one event under an id derived from what happened. With no
	// webhook to deliver to, nothing is stored.
	EnqueueEvent(ctx context.Context, e *Event) (int, error)
	// EnqueueWebhookEvent stores e and one pending delivery of it to
	// webhook id alone, whatever its events and even when it is disabled
	// (a test ping). e.Type may be EventWebhookTest.
	EnqueueWebhookEvent(ctx context.Context, id string, e *Event) (*WebhookDelivery, error)
	// ClaimDeliveries leases up to limit pending deliveries due at now
	// (oldest first) to the caller until now+lease and counts an attempt
	// for each: no other caller, on this node or another, claims them
	// before the lease runs out. A delivery whose sender died is due again
	// when its lease ends. Deliveries of disabled webhooks wait, test pings
	// excepted. No more than MaxLeasedPerWebhook deliveries of one webhook
	// are leased at once, whoever holds them.
	ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*ClaimedDelivery, error)
	// RecordAttempt stores the outcome of an attempt at delivery id. A lease
	// that is no longer the delivery's (it ran out and another sender
	// claimed it, or its outcome is recorded already) is ECONFLICT and
	// changes nothing.
	RecordAttempt(ctx context.Context, id string, a WebhookAttempt) error
	// FindWebhookDelivery returns a delivery by id.
	FindWebhookDelivery(ctx context.Context, id string) (*WebhookDelivery, error)
	// ListWebhookDeliveries lists a webhook's deliveries, newest first.
	ListWebhookDeliveries(ctx context.Context, f WebhookDeliveryFilter, p Page) (deliveries []*WebhookDelivery, next string, err error)
	// PruneWebhookDeliveries deletes deliveries created before before,
	// whatever their status, and the events no delivery needs any more; it
	// returns how many deliveries it deleted.
	PruneWebhookDeliveries(ctx context.Context, before time.Time) (int, error)
}
