package sessioncrypto

import "time"

// The HTTP side of payload encryption, shared by the gateway and clients
// (docs/payload-encryption.md).
const (
	// DefaultSessionPath is where clients start (POST) and end (DELETE) a
	// session.
	DefaultSessionPath = "/.keygate/session"
	// HeaderSession carries the session id on every request of an
	// encrypting route, beside the route's credential.
	HeaderSession = "Keygate-Session"
	// HeaderEnvelope carries the envelope of the empty body of a request
	// without one (a GET): it binds the request to the session and gives
	// its sequence number, which the answer is sealed with.
	HeaderEnvelope = "Keygate-Envelope"
	// HeaderContentType is the media type of the sealed body.
	HeaderContentType = "Keygate-Content-Type"
	// EnvelopeMediaType is the Content-Type of a body that is one envelope.
	EnvelopeMediaType = "application/keygate-envelope"
	// EncryptedFormat marks sealed JSON-RPC params and results.
	EncryptedFormat = "Encrypted"
)

// HandshakeRequest is the body of POST /.keygate/session.
type HandshakeRequest struct {
	// Path and Method name the route, as a request on it would (Method
	// defaults to POST).
	Path   string `json:"path"`
	Method string `json:"method,omitempty"`
	// KeyType and PublicKey are the client's key the session key is wrapped
	// to (see ParsePublicKey); a static route ignores them.
	KeyType   string `json:"key_type,omitempty"`
	PublicKey string `json:"public_key,omitempty"`
	// Lifetime in seconds (60 to 86400); 0: an hour.
	Lifetime int `json:"lifetime,omitempty"`
}

// HandshakeResponse is the answer to a handshake.
type HandshakeResponse struct {
	Session   string    `json:"session"`
	Mode      string    `json:"mode"` // static or dynamic
	KeyType   string    `json:"key_type,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	// WrappedKey is the session key sealed to the client's public key
	// (dynamic mode; standard base64). A static session uses the route's
	// static key, which the client was given beforehand.
	WrappedKey string `json:"wrapped_key,omitempty"`
	// EnvelopeVersion is the envelope format to seal with.
	EnvelopeVersion int `json:"envelope_version"`
}

// SealedValue is the JSON-RPC form of an envelope: {"format": "Encrypted",
// "value": "<standard base64 of the envelope>"}.
type SealedValue struct {
	Format string `json:"format"`
	Value  string `json:"value"`
}
