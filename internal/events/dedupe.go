package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Deduper remembers which events a consumer has finished, in a JetStream
// key-value bucket, so that a redelivered or republished event does not
// repeat finished work.
//
// The window: Once records an event only after fn has succeeded. A crash (or
// a lost connection) between the two means fn runs again on redelivery, and
// two deliveries running at once may both run fn. So fn must still be
// idempotent or transactional on its own; Once saves the repeated work in the
// common case, it does not make effects exactly-once.
type Deduper struct {
	kv     jetstream.KeyValue
	logger *slog.Logger
}

// NewDeduper creates or updates the bucket. ttl is how long a finished event
// is remembered: make it longer than events can come back, i.e. longer than
// the redelivery schedule and than producers may republish an event_id.
func NewDeduper(ctx context.Context, b *Bus, bucket string, ttl time.Duration) (*Deduper, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("events: deduper %s: ttl must be positive", bucket)
	}
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "StreamGate: events already handled, by event_id",
		TTL:         ttl,
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("events: deduper bucket %s: %w", bucket, err)
	}
	return &Deduper{kv: kv, logger: b.logger.With("bucket", bucket)}, nil
}

// Once runs fn unless eventID has been recorded as done, and records it when
// fn returns nil. fn's error is returned as is (so Permanent still works in a
// Handler). If another delivery recorded the event first, that is fine: the
// work is done either way.
func (d *Deduper) Once(ctx context.Context, eventID string, fn func(ctx context.Context) error) error {
	if eventID == "" {
		return fmt.Errorf("%w: empty event_id", ErrInvalidEvent)
	}
	key := dedupeKey(eventID)
	_, err := d.kv.Get(ctx, key)
	switch {
	case err == nil:
		d.logger.DebugContext(ctx, "event already handled, skipping", "event_id", eventID)
		return nil
	case !errors.Is(err, jetstream.ErrKeyNotFound):
		return fmt.Errorf("events: deduper lookup %s: %w", eventID, err)
	}

	if err := fn(ctx); err != nil {
		return err
	}

	// fn has succeeded: record it even if the handler's ctx just ended.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
	defer cancel()
	if _, err := d.kv.Create(rctx, key, []byte(eventID)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		// The work is done, so do not fail the event over the record; a
		// redelivery will merely repeat fn.
		d.logger.WarnContext(ctx, "recording handled event failed", "event_id", eventID, "err", err)
	}
	return nil
}

// dedupeKey maps an event id, which may hold characters KV keys may not
// (such as ':'), to a valid key. The value keeps the id for inspection.
func dedupeKey(eventID string) string {
	sum := sha256.Sum256([]byte(eventID))
	return hex.EncodeToString(sum[:])
}
