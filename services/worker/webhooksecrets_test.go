package worker

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	workerv1 "github.com/streamgate/streamgate/gen/go/streamgate/worker/v1"
	"github.com/streamgate/streamgate/internal/secretbox"
	"github.com/streamgate/streamgate/internal/secretbox/secretboxtest"
)

// kekService is a worker on url with the KEK, its stores set up (and its
// secrets sealed) as at start.
func kekService(t *testing.T, url string, kek *secretbox.Keyring) (*Service, error) {
	cfg := testConfig()
	cfg.DevMode = true
	cfg.KEK = kek
	s := newTestService(t, url, cfg, nil, KindOptions{})
	return s, s.CheckSecrets(t.Context())
}

func createHook(t *testing.T, s *Service, owner string) (id, secret string) {
	t.Helper()
	res, err := client(t, s).CreateWebhook(t.Context(), asWallet(owner, &workerv1.CreateWebhookRequest{Url: "http://127.0.0.1:9/hook", EventTypes: []string{"video.ready"}}))
	if err != nil {
		t.Fatal(err)
	}
	return res.Msg.Webhook.Id, res.Msg.Secret
}

// storedSecret is the secret field of the webhook's record in the bucket.
func storedSecret(t *testing.T, s *Service, id string) (raw []byte, secret string) {
	t.Helper()
	e, err := s.webhooks.kv.Get(t.Context(), whkKey(id))
	if err != nil {
		t.Fatal(err)
	}
	var h Webhook
	if err := json.Unmarshal(e.Value(), &h); err != nil {
		t.Fatal(err)
	}
	return e.Value(), h.Secret
}

// TestWebhookSecretsSealedAtRest: the bucket does not hold the secret,
// deliveries get it whole, and a sealed secret copied into another
// webhook's record does not open.
func TestWebhookSecretsSealedAtRest(t *testing.T) {
	url := startNATS(t)
	s, err := kekService(t, url, secretboxtest.Keyring(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	a, secretA := createHook(t, s, alice)
	b, _ := createHook(t, s, alice)
	raw, sealedA := storedSecret(t, s, a)
	if bytes.Contains(raw, []byte(secretA)) || bytes.Contains(raw, []byte(strings.TrimPrefix(secretA, "whsec_"))) || !secretbox.IsSealedString(sealedA) {
		t.Fatalf("stored record holds the secret: %s", raw)
	}
	h, err := s.webhooks.get(t.Context(), "", a)
	if err != nil || h.Secret != secretA {
		t.Fatalf("get = %q, %v; want the secret", h.Secret, err)
	}
	// A's sealed secret moved into B's record.
	e, _ := s.webhooks.kv.Get(t.Context(), whkKey(b))
	var hb Webhook
	_ = json.Unmarshal(e.Value(), &hb)
	hb.Secret = sealedA
	moved, _ := json.Marshal(hb)
	if _, err := s.webhooks.kv.Put(t.Context(), whkKey(b), moved); err != nil {
		t.Fatal(err)
	}
	if _, err := s.webhooks.get(t.Context(), "", b); !errors.Is(err, ErrKEK) || !errors.Is(err, secretbox.ErrOpen) {
		t.Fatalf("get with a secret moved from another webhook: %v, want ErrKEK", err)
	}
}

// TestWebhookSecretsAtStart: secrets stored in clear are sealed at the
// next start with a KEK; a wrong KEK, or none, then fails the start.
func TestWebhookSecretsAtStart(t *testing.T) {
	url := startNATS(t)
	clear, err := kekService(t, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, secret := createHook(t, clear, alice)
	if _, stored := storedSecret(t, clear, id); stored != secret {
		t.Fatal("without a KEK the secret is not stored as before")
	}

	s, err := kekService(t, url, secretboxtest.Keyring(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, stored := storedSecret(t, s, id); !secretboxtest.Keyring(t, 1).SealedStringWithCurrent(stored) {
		t.Fatal("the clear secret was not sealed at start")
	}
	if h, err := s.webhooks.get(t.Context(), "", id); err != nil || h.Secret != secret {
		t.Fatalf("get = %q, %v", h.Secret, err)
	}

	if _, err := kekService(t, url, secretboxtest.Keyring(t, 2)); !errors.Is(err, ErrKEK) || !errors.Is(err, secretbox.ErrUnknownKey) {
		t.Errorf("start with a wrong KEK: %v, want ErrKEK", err)
	}
	if _, err := kekService(t, url, nil); !errors.Is(err, ErrKEK) || !strings.Contains(err.Error(), "no key-encryption key") {
		t.Errorf("start without the KEK: %v, want ErrKEK", err)
	}
	// Run gives up on it too, rather than retrying forever.
	wrong := newTestService(t, url, Config{KEK: secretboxtest.Keyring(t, 2)}, nil, KindOptions{})
	if err := wrong.Run(t.Context()); !errors.Is(err, ErrKEK) {
		t.Errorf("Run with a wrong KEK: %v, want ErrKEK", err)
	}
}

// TestWebhookSecretsKEKRotation: with the new KEK first and the previous
// one after it, secrets sealed under the previous one open and are sealed
// again under the new one at start, and new secrets are sealed under the
// new one; the previous KEK can then be dropped.
func TestWebhookSecretsKEKRotation(t *testing.T) {
	url := startNATS(t)
	old, err := kekService(t, url, secretboxtest.Keyring(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	id, secret := createHook(t, old, alice)

	rotated := secretboxtest.Keyring(t, 2, 1)
	s, err := kekService(t, url, rotated)
	if err != nil {
		t.Fatalf("start with the rotated KEK: %v", err)
	}
	if _, stored := storedSecret(t, s, id); !rotated.SealedStringWithCurrent(stored) {
		t.Fatal("the secret was not sealed again under the new KEK at start")
	}
	id2, secret2 := createHook(t, s, bob)
	if _, stored := storedSecret(t, s, id2); !rotated.SealedStringWithCurrent(stored) {
		t.Fatal("a new secret is not sealed under the new KEK")
	}

	s2, err := kekService(t, url, secretboxtest.Keyring(t, 2))
	if err != nil {
		t.Fatalf("start with the new KEK alone: %v", err)
	}
	for id, want := range map[string]string{id: secret, id2: secret2} {
		if h, err := s2.webhooks.get(t.Context(), "", id); err != nil || h.Secret != want {
			t.Errorf("get(%s) = %q, %v", id, h.Secret, err)
		}
	}
}
