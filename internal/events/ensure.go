package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// kvStreamPrefix is the name prefix of the stream behind a key-value bucket.
const kvStreamPrefix = "KV_"

// EnsureStream returns the stream cfg names, creating it from cfg when it is
// missing, with the Bus's replica count (WithReplicas) when cfg.Replicas is 0.
// An existing stream keeps the configuration it has, which an operator may
// have changed on purpose (replicas, limits, placement): EnsureStream only
// adds the subjects of cfg that none of the stream's subjects covers, since
// publishers would fail without them. A replica count other than the setting
// is logged and left alone, so a stream scaled to R3 is never scaled back
// down, and an R1 stream from before a move to a cluster is scaled up by the
// operator (nats stream edit NAME --replicas 3), not by whichever process
// starts first. Every process may call it at start.
func (b *Bus) EnsureStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	return retryStarting(ctx, b, "stream "+cfg.Name, func() (jetstream.Stream, error) { return b.ensureStream(ctx, cfg) })
}

func (b *Bus) ensureStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = b.replicas
	}
	// Two rounds: another process may create the stream between our look
	// and our create.
	for range 2 {
		s, err := b.js.Stream(ctx, cfg.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			s, err = b.js.CreateStream(ctx, cfg)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("events: create stream %s: %w", cfg.Name, err)
			}
			b.logger.InfoContext(ctx, "created stream", "stream", cfg.Name, "replicas", cfg.Replicas)
			return s, nil
		}
		if err != nil {
			return nil, fmt.Errorf("events: stream %s: %w", cfg.Name, err)
		}
		return s, b.reconcile(ctx, s, cfg.Subjects, cfg.Replicas, false, 0)
	}
	return nil, fmt.Errorf("events: stream %s: created and deleted concurrently", cfg.Name)
}

// EnsureKeyValue returns the bucket cfg names, creating it from cfg when it
// is missing, with the Bus's replica count when cfg.Replicas is 0. Like
// EnsureStream it leaves an existing bucket's settings as they are, with one
// exception: when cfg.LimitMarkerTTL is set (the caller writes keys with a
// time to live) and the bucket does not allow per-message TTLs yet, that is
// switched on, which JetStream allows but never undoes.
func (b *Bus) EnsureKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return retryStarting(ctx, b, "bucket "+cfg.Bucket, func() (jetstream.KeyValue, error) { return b.ensureKeyValue(ctx, cfg) })
}

func (b *Bus) ensureKeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = b.replicas
	}
	for range 2 {
		kv, err := b.js.KeyValue(ctx, cfg.Bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			kv, err = b.js.CreateKeyValue(ctx, cfg)
			if errors.Is(err, jetstream.ErrBucketExists) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("events: create bucket %s: %w", cfg.Bucket, err)
			}
			b.logger.InfoContext(ctx, "created key-value bucket", "bucket", cfg.Bucket, "replicas", cfg.Replicas)
			return kv, nil
		}
		if err != nil {
			return nil, fmt.Errorf("events: bucket %s: %w", cfg.Bucket, err)
		}
		s, err := b.js.Stream(ctx, kvStreamPrefix+cfg.Bucket)
		if err != nil {
			return nil, fmt.Errorf("events: stream of bucket %s: %w", cfg.Bucket, err)
		}
		if err := b.reconcile(ctx, s, nil, cfg.Replicas, cfg.LimitMarkerTTL > 0, cfg.LimitMarkerTTL); err != nil {
			return nil, err
		}
		return kv, nil
	}
	return nil, fmt.Errorf("events: bucket %s: created and deleted concurrently", cfg.Bucket)
}

// startingBudget bounds how long EnsureStream and EnsureKeyValue wait for a
// JetStream that is not answering yet.
const startingBudget = 2 * time.Minute

// retryStarting retries f while JetStream answers as a cluster does when it
// is electing a leader or busy creating replicated streams for every
// process that starts with it (a rollout, `streamgate cluster`): a request
// timing out, no responders, a 503. Any other error, and the caller's ctx
// ending, return at once.
func retryStarting[T any](ctx context.Context, b *Bus, what string, f func() (T, error)) (T, error) {
	deadline := time.Now().Add(startingBudget)
	wait := 250 * time.Millisecond
	for {
		v, err := f()
		if err == nil || ctx.Err() != nil || !starting(err) || time.Now().After(deadline) {
			return v, err
		}
		b.logger.WarnContext(ctx, "JetStream not answering yet; retrying", "what", what, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func starting(err error) bool {
	var api *jetstream.APIError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoHeartbeat) || (errors.As(err, &api) && api.Code == 503)
}

// reconcile adds to the existing stream s what its users cannot do without
// (subjects, per-message TTLs) and logs a replica count other than
// replicas; nothing else of s's configuration is touched.
func (b *Bus) reconcile(ctx context.Context, s jetstream.Stream, subjects []string, replicas int, msgTTL bool, markerTTL time.Duration) error {
	cur := s.CachedInfo().Config
	if cur.Replicas != replicas {
		b.logger.WarnContext(ctx, "stream replica count differs from the setting; left as it is",
			"stream", cur.Name, "replicas", cur.Replicas, "setting", replicas)
	}
	upd := cur
	var added []string
	for _, want := range subjects {
		if !slices.ContainsFunc(cur.Subjects, func(have string) bool { return subjectCovers(have, want) }) {
			added = append(added, want)
		}
	}
	if len(added) > 0 {
		upd.Subjects = append(slices.Clone(cur.Subjects), added...)
	}
	ttlOn := msgTTL && !cur.AllowMsgTTL
	if ttlOn {
		upd.AllowMsgTTL = true
		if upd.SubjectDeleteMarkerTTL == 0 {
			upd.SubjectDeleteMarkerTTL = markerTTL
		}
	}
	if len(added) == 0 && !ttlOn {
		return nil
	}
	if _, err := b.js.UpdateStream(ctx, upd); err != nil {
		return fmt.Errorf("events: update stream %s: %w", cur.Name, err)
	}
	b.logger.InfoContext(ctx, "updated stream", "stream", cur.Name, "added_subjects", added, "allowed_msg_ttl", ttlOn)
	return nil
}

// subjectCovers reports whether every subject matching want also matches
// the filter have ("*" stands for one token, a final ">" for one or more).
func subjectCovers(have, want string) bool {
	h, w := strings.Split(have, "."), strings.Split(want, ".")
	for i, ht := range h {
		if ht == ">" {
			return len(w) > i
		}
		if i >= len(w) {
			return false
		}
		switch wt := w[i]; {
		case wt == ">":
			return false
		case ht == "*" || ht == wt:
		default:
			return false
		}
	}
	return len(h) == len(w)
}
