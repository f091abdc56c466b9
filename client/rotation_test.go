package client_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

func TestOpenRotatedKey(t *testing.T) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdh.X25519().GenerateKey(rand.Reader)
	pub, err := keygate.ParseRotationPublicKey(base64.StdEncoding.EncodeToString(priv.PublicKey().Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	const id = "0195a3c2-0000-7000-8000-000000000002"
	sealed, err := keygate.SealRotatedKey(pub, id, "kg_test_newkey")
	if err != nil {
		t.Fatal(err)
	}
	event := func(data map[string]any) keygate.Event {
		return keygate.Event{Type: keygate.EventKeyRotated, Data: data}
	}
	if key, err := client.OpenRotatedKey(priv, event(map[string]any{"successor_id": id, "sealed_key": sealed})); err != nil || key != "kg_test_newkey" {
		t.Fatalf("opened %q, %v", key, err)
	}
	for _, tt := range []struct {
		name string
		priv *ecdh.PrivateKey
		ev   keygate.Event
		msg  string
	}{
		{"another event type", priv, keygate.Event{Type: keygate.EventKeyRotationDue, Data: map[string]any{"sealed_key": sealed}}, "key.rotation_due"},
		{"kept for pickup", priv, event(map[string]any{"successor_id": id, "pickup": "/.keygate/rotate"}), "pickup at /.keygate/rotate"},
		{"a manual rotation", priv, event(map[string]any{"successor_id": id}), "no sealed_key"},
		{"no successor id", priv, event(map[string]any{"sealed_key": sealed}), "no successor_id"},
		{"another successor id", priv, event(map[string]any{"successor_id": id[:len(id)-1] + "3", "sealed_key": sealed}), "does not open"},
		{"another private key", other, event(map[string]any{"successor_id": id, "sealed_key": sealed}), "does not open"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key, err := client.OpenRotatedKey(tt.priv, tt.ev)
			if err == nil || key != "" || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("got %q, %v; want an error about %q", key, err, tt.msg)
			}
		})
	}
}
