package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/keygate/keygate"
)

// ErrVerifyUnavailable wraps every error of Verify: the answer could not be
// had (network, server failure, a refused verifier token), which is not an
// answer about the key. A service answers its caller 503 for it, never 401.
var ErrVerifyUnavailable = errors.New("keygate: key verification unavailable")

// Verify asks the verify API (POST /v1/keys/verify) whether a key may be
// used, as the gateway would decide. A bad key is an answer, not an
// error: see its Code, and HTTPStatus for the status the gateway would
// send. An error wraps ErrVerifyUnavailable (and the *Error of the admin
// API, if it answered one).
//
// The client's token needs the verifier role (or any that may verify).
func (c *Client) Verify(ctx context.Context, req keygate.VerifyRequest) (*keygate.VerifyResponse, error) {
	return c.verify(ctx, req)
}

func (c *Client) verify(ctx context.Context, req keygate.VerifyRequest) (*keygate.VerifyResponse, error) {
	v, err := call[keygate.VerifyResponse](ctx, c, http.MethodPost, "/v1/keys/verify", req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrVerifyUnavailable, err)
	}
	return v, nil
}

// HTTPStatus is the status the gateway answers a request with a key of
// this code: 200 for VALID, 401 for a key that is not one (or no longer),
// 403 for one that may not do this, 429 for one out of its limits.
func HTTPStatus(code keygate.VerifyCode) int {
	switch code {
	case keygate.CodeValid:
		return http.StatusOK
	case keygate.CodeForbidden, keygate.CodeIPNotAllowed, keygate.CodeInsufficientPermissions:
		return http.StatusForbidden
	case keygate.CodeRateLimited, keygate.CodeUsageExceeded:
		return http.StatusTooManyRequests
	default: // MALFORMED, NOT_FOUND, EXPIRED, REVOKED, DISABLED and codes unknown here
		return http.StatusUnauthorized
	}
}

// refusal is the gateway's message for a refused key's code.
func refusal(code keygate.VerifyCode) string {
	switch code {
	case keygate.CodeForbidden:
		return "You cannot consume this service"
	case keygate.CodeIPNotAllowed:
		return "Your IP address is not allowed"
	case keygate.CodeInsufficientPermissions:
		return "The key lacks the permissions for this request"
	case keygate.CodeRateLimited:
		return "API rate limit exceeded"
	case keygate.CodeUsageExceeded:
		return "API usage exceeded"
	default:
		return "Unauthorized"
	}
}
