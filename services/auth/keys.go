package auth

import (
	"context"
	"crypto/ed25519"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/internal/authtoken"
)

// keyring holds the signing keys and rotates them.
//
// A key's life: it is created and published in the JWKS prepublish ahead
// of its activation (so verifiers holding a cached JWKS already know it
// when its first token arrives), signs from its activation until its
// successor activates (its retire time), then only verifies until every
// token it signed has expired (retire + the longest token lifetime),
// after which it is deleted.
type keyring struct {
	store      *store
	rotation   time.Duration
	prepublish time.Duration
	lifetime   time.Duration // longest token lifetime, skew included
	now        func() time.Time

	mu   sync.RWMutex
	keys []storedKey // ordered by activation
}

func newKeyring(st *store, cfg *Config) *keyring {
	pre := 2 * cfg.JWKSMaxAge
	if pre > cfg.KeyRotation/2 {
		pre = cfg.KeyRotation / 2
	}
	return &keyring{store: st, rotation: cfg.KeyRotation, prepublish: pre, lifetime: cfg.maxTokenLifetime(), now: cfg.Now}
}

// ensure brings the key set up to date at now: a key that signs now, its
// successor once it is due for publication, and no expired retired keys.
// It returns when it next has work to do.
func (k *keyring) ensure(ctx context.Context) (time.Time, error) {
	now := k.now()
	keys, err := k.store.keys(ctx)
	if err != nil {
		return time.Time{}, err
	}
	cur := activeIndex(keys, now)
	switch {
	case cur < 0:
		// First start: nothing to prepublish against.
		if err := k.add(ctx, now, ""); err != nil {
			return time.Time{}, err
		}
	case !now.Before(keys[cur].Activate.Add(k.rotation)):
		// Overdue (the service was down when the rotation was due):
		// take over at once; verifiers fetch the new kid on first sight.
		if cur == len(keys)-1 {
			if err := k.add(ctx, now, keys[cur].ID); err != nil {
				return time.Time{}, err
			}
		}
	case cur == len(keys)-1 && !now.Before(keys[cur].Activate.Add(k.rotation-k.prepublish)):
		if err := k.add(ctx, keys[cur].Activate.Add(k.rotation), keys[cur].ID); err != nil {
			return time.Time{}, err
		}
	}
	if err := k.store.pruneKeys(ctx, now.Add(-k.lifetime)); err != nil {
		return time.Time{}, err
	}
	if keys, err = k.store.keys(ctx); err != nil {
		return time.Time{}, err
	}
	k.mu.Lock()
	k.keys = keys
	k.mu.Unlock()

	// Next work: publishing the successor, or the current key going
	// overdue, or pruning the oldest retired key.
	cur = activeIndex(keys, now)
	if cur < 0 {
		// Another instance, its clock ahead of ours, created the first
		// key: it signs once our clock reaches its activation.
		return keys[0].Activate, nil
	}
	next := keys[cur].Activate.Add(k.rotation - k.prepublish)
	if cur < len(keys)-1 {
		next = keys[len(keys)-1].Activate.Add(k.rotation - k.prepublish)
	}
	for _, key := range keys {
		if !key.Retire.IsZero() {
			if t := key.Retire.Add(k.lifetime); t.Before(next) {
				next = t
			}
			break
		}
	}
	return next, nil
}

func (k *keyring) add(ctx context.Context, activate time.Time, prevID string) error {
	sk, err := authtoken.GenerateKey()
	if err != nil {
		return err
	}
	// Losing the compare-and-set to another instance is fine: ensure
	// re-reads the keys and adopts its rotation.
	_, err = k.store.addKey(ctx, storedKey{ID: sk.ID, Private: sk.Private, Activate: activate.UTC().Truncate(time.Millisecond)}, prevID)
	return err
}

// activeIndex is the key that signs at now: the last one activated.
func activeIndex(keys []storedKey, now time.Time) int {
	cur := -1
	for i, key := range keys {
		if !key.Activate.After(now) {
			cur = i
		}
	}
	return cur
}

// signer returns the key that signs now.
func (k *keyring) signer() (authtoken.SigningKey, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	i := activeIndex(k.keys, k.now())
	if i < 0 {
		return authtoken.SigningKey{}, false
	}
	return authtoken.SigningKey{ID: k.keys[i].ID, Private: k.keys[i].Private}, true
}

// lookup finds a published key for verification.
func (k *keyring) lookup(kid string) (ed25519.PublicKey, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	now := k.now()
	for _, key := range k.keys {
		if key.ID == kid && published(key, now, k.lifetime) {
			return key.Private.Public().(ed25519.PublicKey), true
		}
	}
	return nil, false
}

func published(key storedKey, now time.Time, lifetime time.Duration) bool {
	return key.Retire.IsZero() || now.Before(key.Retire.Add(lifetime))
}

// jwks lists every published key: the next one (not signing yet), the
// active one and the retired ones still verifying.
func (k *keyring) jwks() []*authv1.JsonWebKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	now := k.now()
	out := make([]*authv1.JsonWebKey, 0, len(k.keys))
	for i := len(k.keys) - 1; i >= 0; i-- {
		key := k.keys[i]
		if !published(key, now, k.lifetime) {
			continue
		}
		jwk := authtoken.JWK(key.ID, key.Private.Public().(ed25519.PublicKey))
		if !key.Retire.IsZero() && !key.Retire.After(now) {
			jwk.RetireTime = timestamppb.New(key.Retire)
		}
		out = append(out, jwk)
	}
	return out
}
