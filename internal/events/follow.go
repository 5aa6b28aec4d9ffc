package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// Follow hands h every event of type T published since lookback ago, and
// every later one, until ctx is done. Unlike Subscribe, whose durable
// consumer splits the events among the instances sharing it, Follow reads
// through an ordered consumer of its own, so every instance sees every
// event: for state each instance keeps in memory, such as revocation
// lists. Messages are not acknowledged and a failed read restarts from
// lookback ago, so h must be idempotent. Undecodable messages are logged
// and skipped. The consumer is ephemeral: deleted when Follow returns, and
// dropped by the server 5 minutes after a crashed process stopped reading. It retries until the stream can be read and returns nil
// when ctx is done.
func Follow[T proto.Message](ctx context.Context, b *Bus, lookback time.Duration, h func(T)) error {
	var zero T
	subject, err := Subject(zero)
	if err != nil {
		return err
	}
	delay := 100 * time.Millisecond
	for {
		err := follow(ctx, b, subject, lookback, h)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		b.logger.WarnContext(ctx, "cannot follow events; retrying", "subject", subject, "err", err, "delay", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

func follow[T proto.Message](ctx context.Context, b *Bus, subject string, lookback time.Duration, h func(T)) error {
	stream, err := b.js.StreamNameBySubject(ctx, subject)
	if err != nil {
		return fmt.Errorf("stream of %s: %w", subject, err)
	}
	// The stream's clock: JetStream stamps messages with wall time.
	start := time.Now().Add(-lookback)
	cons, err := b.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &start,
	})
	if err != nil {
		return err
	}
	var zero T
	mt := zero.ProtoReflect().Type()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		msg := mt.New().Interface().(T)
		if err := proto.Unmarshal(m.Data(), msg); err != nil {
			b.logger.Error("undecodable event, skipped", "subject", m.Subject(), "err", err)
			return
		}
		h(msg)
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	cc.Stop()
	// The server would drop the consumer after its inactive threshold
	// (5 minutes for an ordered consumer, also what a crashed process
	// leaves); a clean stop removes it at once, so restarts leave none.
	if info := cons.CachedInfo(); info != nil {
		delCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := b.js.DeleteConsumer(delCtx, stream, info.Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			b.logger.Debug("delete follower consumer", "stream", stream, "consumer", info.Name, "err", err)
		}
	}
	return nil
}
