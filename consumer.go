package keygate

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
)

// Consumer is whoever calls through the gateway: a system, a partner, a
// customer. Credentials belong to a consumer; groups drive route ACLs.
type Consumer struct {
	ID       string   `json:"id"`
	Username string   `json:"username,omitempty"`
	CustomID string   `json:"custom_id,omitempty"`
	Groups   []string `json:"groups"`
	Tags     []string `json:"tags"`
	// RotationPolicy schedules the rotation of the consumer's API keys; nil:
	// none. PublicKey is the standard base64 of an X25519 public key that
	// the new keys of automatic rotations are sealed to (see
	// SealRotatedKey); empty: they are kept for pickup instead.
	RotationPolicy *RotationPolicy `json:"rotation_policy,omitempty"`
	PublicKey      string          `json:"public_key,omitempty"`
	// Plan is the usage plan the consumer's requests are limited by; nil:
	// none. Stores keep its id.
	Plan *Ref `json:"plan"`
	// Permissions and Roles are held by every key of the consumer.
	Permissions []string `json:"permissions"`
	Roles       []string `json:"roles"`
	Timestamps
	// Enabled false disables the consumer and so all its credentials,
	// reversibly; nil or true: enabled.
	Enabled *bool `json:"enabled"`
	// Meta is free-form JSON (an object, at most MaxMetaSize bytes) that
	// the verify API answers with.
	Meta json.RawMessage `json:"meta,omitempty"`
}

// Equal reports whether c and o are the same consumer in every field (a nil
// list equal to an empty one): what a cache may share between two reads.
// reflect.DeepEqual did this for 1.6 µs of each cache miss of a gateway.
func (c *Consumer) Equal(o *Consumer) bool {
	return c.ID == o.ID && c.Username == o.Username && c.CustomID == o.CustomID &&
		slices.Equal(c.Groups, o.Groups) && slices.Equal(c.Tags, o.Tags) &&
		equalValues(c.RotationPolicy, o.RotationPolicy) && c.PublicKey == o.PublicKey && equalValues(c.Plan, o.Plan) &&
		slices.Equal(c.Permissions, o.Permissions) && slices.Equal(c.Roles, o.Roles) &&
		c.CreatedAt.Equal(o.CreatedAt) && c.UpdatedAt.Equal(o.UpdatedAt) &&
		equalValues(c.Enabled, o.Enabled) && bytes.Equal(c.Meta, o.Meta)
}

// equalValues reports whether a and b are both nil or point to equal values.
func equalValues[T comparable](a, b *T) bool {
	return a == b || a != nil && b != nil && *a == *b
}

// NewConsumer returns an empty consumer ready to be decoded into.
func NewConsumer() *Consumer {
	enabled := true
	return &Consumer{Groups: []string{}, Tags: []string{}, Permissions: []string{}, Roles: []string{}, Enabled: &enabled}
}

// Normalize makes nil lists empty, so that they are written as [] and never
// as null. Stores call it before they save.
func (c *Consumer) Normalize() {
	c.Groups, c.Tags = orEmpty(c.Groups), orEmpty(c.Tags)
	c.Permissions, c.Roles = orEmpty(c.Permissions), orEmpty(c.Roles)
	if c.Enabled == nil {
		c.Enabled = new(bool)
		*c.Enabled = true
	}
}

// Validate reports the first invalid field.
func (c *Consumer) Validate() error {
	if c.Username == "" && c.CustomID == "" {
		return Errorf(EINVALID, "username: one of username or custom_id is required")
	}
	if err := validateName("username", c.Username, false); err != nil {
		return err
	}
	if len(c.CustomID) > maxNameLen {
		return Errorf(EINVALID, "custom_id: longer than %d characters", maxNameLen)
	}
	if err := checkText("custom_id", c.CustomID); err != nil {
		return err
	}
	if err := validateList("groups", c.Groups, validateGroup); err != nil {
		return err
	}
	if err := validateTags(c.Tags); err != nil {
		return err
	}
	if err := ValidateGrants("permissions", c.Permissions); err != nil {
		return err
	}
	if err := ValidateGrants("roles", c.Roles); err != nil {
		return err
	}
	if c.RotationPolicy != nil {
		if err := c.RotationPolicy.Validate(); err != nil {
			return err
		}
	}
	if c.PublicKey != "" {
		if _, err := ParseRotationPublicKey(c.PublicKey); err != nil {
			return err
		}
	}
	if _, err := ValidateMeta("meta", c.Meta); err != nil {
		return err
	}
	return nil
}

// ConsumerStore persists consumers. Every method is one transaction.
type ConsumerStore interface {
	// CreateConsumer assigns ID and timestamps and stores c. A taken username
	// or custom_id is ECONFLICT.
	CreateConsumer(ctx context.Context, c *Consumer) error
	// FindConsumer looks a consumer up by id or by username.
	FindConsumer(ctx context.Context, ref string) (*Consumer, error)
	ListConsumers(ctx context.Context, p Page) (consumers []*Consumer, next string, err error)
	UpdateConsumer(ctx context.Context, ref string, update func(*Consumer) error) (*Consumer, error)
	// DeleteConsumer removes a consumer together with its credentials. Besides
	// the consumer's Deleted change it emits one for each key and HMAC credential it removed.
	DeleteConsumer(ctx context.Context, ref string) error
}
