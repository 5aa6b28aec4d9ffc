package gateway

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/events"
)

// revocationLookback is how far back FollowRevocations starts reading:
// longer than any session or playback token lives, so an instance that
// starts (or restarts) after a sign-out still learns of it. Older events
// are replayed harmlessly, their expiry being past.
const revocationLookback = 24 * time.Hour

// FollowRevocations feeds RevokeSession from session.revoked until ctx is
// done. Every gateway instance must see every revocation, so each reads
// the subject through an ordered consumer of its own (ephemeral, resumed
// by the client after a reconnection) rather than a shared durable. It
// retries until the stream can be read; it returns nil when ctx is done.
func (e *Edge) FollowRevocations(ctx context.Context, bus *events.Bus) error {
	subject, err := events.Subject(&eventsv1.SessionRevoked{})
	if err != nil {
		return err
	}
	delay := 100 * time.Millisecond
	for {
		err := e.consumeRevocations(ctx, bus, subject)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		e.logger.WarnContext(ctx, "cannot follow session revocations; retrying", "err", err, "delay", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// consumeRevocations consumes until ctx is done (nil) or fails to start.
func (e *Edge) consumeRevocations(ctx context.Context, bus *events.Bus, subject string) error {
	js := bus.JetStream()
	stream, err := js.StreamNameBySubject(ctx, subject)
	if err != nil {
		return err
	}
	start := e.cfg.Now().Add(-revocationLookback)
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &start,
	})
	if err != nil {
		return err
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var ev eventsv1.SessionRevoked
		if err := proto.Unmarshal(m.Data(), &ev); err != nil {
			e.logger.Error("undecodable session.revoked event, skipped", "err", err)
			return
		}
		until := ev.GetExpireTime().AsTime()
		if ev.GetExpireTime() == nil {
			// No bound given: keep it as long as anything is replayed.
			until = ev.GetOccurTime().AsTime().Add(revocationLookback)
		}
		e.RevokeSession(ev.GetSessionId(), until)
	})
	if err != nil {
		return err
	}
	e.logger.InfoContext(ctx, "following session revocations", "stream", stream)
	<-ctx.Done()
	cc.Stop()
	return nil
}
