package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamgate/streamgate/internal/secretbox"
)

// ErrKEK: a webhook secret in the store does not open under the
// configured key-encryption key (a wrong KEK, none, or a previous one
// dropped too early). The worker refuses to start on it.
var ErrKEK = errors.New("worker: a stored webhook secret does not open under the key-encryption key")

// Webhook secrets are sealed at rest (secretbox, text form "sgbox1:...")
// under Config.KEK, bound to the webhook's id and owner, so the KV bucket
// alone does not hold them and a sealed secret copied into another
// webhook's record does not open. Without a KEK (tests) they are stored in
// clear, as "whsec_..." secrets always were; sealSecrets seals those (and
// those sealed under a previous KEK) at start.

func secretContext(id, owner string) []byte {
	return []byte("streamgate/worker/webhook_secret\x00" + id + "\x00" + owner)
}

// encode is the stored form of h: its secret sealed when there is a KEK.
func (w *webhookStore) encode(h Webhook) []byte {
	if w.kek != nil {
		h.Secret = w.kek.SealString(h.Secret, secretContext(h.ID, h.Owner))
	}
	val, _ := json.Marshal(h)
	return val
}

// decode reads a stored webhook, opening its secret. The error wraps
// ErrKEK when the secret does not open.
func (w *webhookStore) decode(val []byte) (Webhook, error) {
	var h Webhook
	if err := json.Unmarshal(val, &h); err != nil {
		return Webhook{}, err
	}
	if !secretbox.IsSealedString(h.Secret) {
		return h, nil // stored in clear, before the KEK
	}
	if w.kek == nil {
		return Webhook{}, fmt.Errorf("%w: webhook %s: its secret is encrypted, and no key-encryption key is configured (--kek-file or $STREAMGATE_KEK)", ErrKEK, h.ID)
	}
	secret, err := w.kek.OpenString(h.Secret, secretContext(h.ID, h.Owner))
	if err != nil {
		return Webhook{}, fmt.Errorf("%w: webhook %s: %w", ErrKEK, h.ID, err)
	}
	h.Secret = secret
	return h, nil
}

// sealSecrets seals, under the current KEK, every stored secret in clear
// or sealed under a previous KEK. Each write is a compare-and-set on the
// record's revision: a webhook deleted or rewritten meanwhile is left
// alone. A secret that does not open fails with ErrKEK.
func (w *webhookStore) sealSecrets(ctx context.Context) (resealed int, err error) {
	keys, err := w.keys(ctx, "whk.*")
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		e, err := w.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return resealed, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		h, err := w.decode(e.Value())
		if err != nil {
			if errors.Is(err, ErrKEK) {
				return resealed, err
			}
			continue // not a webhook record: get reports it
		}
		if w.kek == nil {
			continue
		}
		var stored Webhook
		_ = json.Unmarshal(e.Value(), &stored)
		if w.kek.SealedStringWithCurrent(stored.Secret) {
			continue
		}
		if _, err := w.kv.Update(ctx, k, w.encode(h), e.Revision()); err != nil {
			if isConflict(err) {
				continue // rewritten or deleted meanwhile
			}
			return resealed, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		resealed++
	}
	return resealed, nil
}

// CheckSecrets prepares the worker's stores (as Run does) and seals the
// webhook secrets under the current KEK, so that a wrong KEK fails the
// start (ErrKEK) rather than each delivery. Other errors (NATS not
// reachable yet) are for the caller to log: Run retries them.
func (s *Service) CheckSecrets(ctx context.Context) error {
	return s.ensureSetup(ctx)
}
