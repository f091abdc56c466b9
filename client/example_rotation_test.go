package client_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

// A consumer whose keys rotate automatically can have the new keys
// delivered by webhook, sealed to a public key it registers: it makes an
// X25519 key pair, sets the public half as its public_key (keygate
// consumers update acme --public-key ...), keeps the private half, and
// opens each key.rotated event's sealed_key with it.
func ExampleOpenRotatedKey() {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		fmt.Println(err)
		return
	}
	publicKey := base64.StdEncoding.EncodeToString(priv.PublicKey().Bytes()) // the consumer's public_key

	// What keygate does when it rotates the consumer's key: it seals the
	// new key to the public key and sends the key.rotated event.
	pub, _ := keygate.ParseRotationPublicKey(publicKey)
	sealed, _ := keygate.SealRotatedKey(pub, "0195a3c2-0000-7000-8000-000000000002", "kg_live_newkey")
	body, _ := json.Marshal(keygate.Event{Type: keygate.EventKeyRotated, Data: map[string]any{
		"key_id": "0195a3c2-0000-7000-8000-000000000001", "successor_id": "0195a3c2-0000-7000-8000-000000000002",
		"scheduled": true, "sealed_key": sealed}})

	// The webhook receiver (after checking the signature, see package webhook).
	var ev keygate.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		fmt.Println(err)
		return
	}
	key, err := client.OpenRotatedKey(priv, ev)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("new key:", key)
	// Output: new key: kg_live_newkey
}
