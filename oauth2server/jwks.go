package oauth2server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// jwksCache holds the key sets of clients that registered a jwks_uri.
type jwksCache struct {
	client *http.Client
	now    func() time.Time
	mu     sync.Mutex
	byURL  map[string]*jwksEntry
}

type jwksEntry struct {
	keys    []jose.JSONWebKey
	fetched time.Time
}

const (
	jwksTTL = 5 * time.Minute
	// jwksRefetch is how soon an unknown kid may fetch a set again: a
	// client's key rotation is seen at once, a flood of made-up kids
	// costs a fetch each half minute at most.
	jwksRefetch = 30 * time.Second
	maxJWKSBody = 64 << 10
	maxJWKSURLs = 10000
)

func newJWKSCache(c *http.Client, now func() time.Time) *jwksCache {
	return &jwksCache{client: c, now: now, byURL: map[string]*jwksEntry{}}
}

func (c *jwksCache) get(ctx context.Context, url, kid string) ([]jose.JSONWebKey, error) {
	now := c.now()
	c.mu.Lock()
	e := c.byURL[url]
	c.mu.Unlock()
	if e != nil {
		age := now.Sub(e.fetched)
		known := kid == "" || len(e.find(kid)) > 0
		if age < jwksTTL && (known || age < jwksRefetch) {
			return e.keys, nil
		}
	}
	keys, err := c.fetch(ctx, url)
	if err != nil {
		if e != nil {
			return e.keys, nil // the last good set, rather than none
		}
		return nil, err
	}
	c.mu.Lock()
	if len(c.byURL) >= maxJWKSURLs {
		clear(c.byURL)
	}
	c.byURL[url] = &jwksEntry{keys: keys, fetched: now}
	c.mu.Unlock()
	return keys, nil
}

func (e *jwksEntry) find(kid string) []jose.JSONWebKey {
	for _, k := range e.keys {
		if k.KeyID == kid {
			return []jose.JSONWebKey{k}
		}
	}
	return nil
}

func (c *jwksCache) fetch(ctx context.Context, url string) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks_uri answered %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBody {
		return nil, errors.New("jwks_uri: document too large")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	return publicOnly(set.Keys), nil
}
