package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Handler processes one event. Returning nil acknowledges it; returning an
// error wrapping ErrPermanent (see Permanent) drops it; any other error has
// it redelivered later. Handlers must be idempotent: delivery is at least
// once.
type Handler[T proto.Message] func(ctx context.Context, event T) error

// SubscribeOptions tune a subscription. Zero values take the defaults.
type SubscribeOptions struct {
	// AckWait is how long JetStream waits for an answer before redelivering
	// (default 30s). Long handlers need not fit in it: while a handler runs,
	// Subscribe tells JetStream every AckWait/2 that it is still working.
	AckWait time.Duration
	// MaxDeliver is how many times an event is delivered before it is given
	// up (default 10; negative means no limit).
	MaxDeliver int
	// Backoff is the delay before redelivery after the n-th failed attempt;
	// the last value repeats (default 1s, 5s, 30s, 2m).
	Backoff []time.Duration
	// Concurrency is how many handlers run at once (default 1, which keeps
	// events in stream order apart from redeliveries).
	Concurrency int
}

func (o SubscribeOptions) withDefaults() (SubscribeOptions, error) {
	if o.AckWait == 0 {
		o.AckWait = 30 * time.Second
	}
	if o.MaxDeliver == 0 {
		o.MaxDeliver = 10
	}
	if o.MaxDeliver < 0 {
		o.MaxDeliver = -1
	}
	if len(o.Backoff) == 0 {
		o.Backoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute}
	}
	if o.Concurrency == 0 {
		o.Concurrency = 1
	}
	switch {
	case o.AckWait < 0:
		return o, fmt.Errorf("events: AckWait %s is negative", o.AckWait)
	case o.Concurrency < 0:
		return o, fmt.Errorf("events: Concurrency %d is negative", o.Concurrency)
	}
	for _, d := range o.Backoff {
		if d < 0 {
			return o, fmt.Errorf("events: Backoff %s is negative", d)
		}
	}
	return o, nil
}

// validDurable reports whether JetStream accepts name as a durable consumer
// name; checked up front for a clearer error than the server's.
func validDurable(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}

// fetchWait bounds one pull request, so a request lost with a crashed server
// is replaced within seconds of the reconnection.
const fetchWait = 5 * time.Second

// ackTimeout bounds an acknowledgement round trip.
const ackTimeout = 5 * time.Second

// Subscription is a running durable subscription.
type Subscription struct {
	stopFetching context.CancelFunc
	done         chan struct{}
}

// Stop stops fetching and waits for the handlers in flight to return; their
// events are then acknowledged or retried as usual. Stop does not cancel the
// handlers' context: to abandon them, cancel the ctx given to Subscribe. Safe
// to call more than once.
func (s *Subscription) Stop() {
	s.stopFetching()
	<-s.done
}

// Done is closed once the subscription has stopped: after Stop, after the
// ctx given to Subscribe is done, or after the Bus was closed.
func (s *Subscription) Done() <-chan struct{} {
	return s.done
}

// Delivery describes the JetStream delivery of the event a handler is
// processing.
type Delivery struct {
	// Stream and Consumer name where the event came from.
	Stream, Consumer string
	// Subject the event was published on.
	Subject string
	// StreamSeq is the event's sequence number in its stream.
	StreamSeq uint64
	// NumDelivered is 1 on the first delivery and counts up on redelivery.
	NumDelivered uint64
	// Published is when JetStream stored the event.
	Published time.Time
}

type deliveryKey struct{}

// DeliveryFromContext returns the delivery of the event being handled, for
// handlers that log or decide by attempt number.
func DeliveryFromContext(ctx context.Context) (Delivery, bool) {
	d, ok := ctx.Value(deliveryKey{}).(Delivery)
	return d, ok
}

// Subscribe consumes events of type T with a durable pull consumer named
// durable on T's stream, filtered to T's subject. Every process that
// subscribes with the same durable shares the work; each durable sees every
// event, starting from the oldest the stream keeps. Name the durable after the
// consuming service (e.g. "metadata"). The consumer is created or updated to
// opts, so all subscribers of one durable should pass the same opts.
// Consumption goes on until Stop or until ctx is done (which also cancels
// running handlers; their events go back to the stream at once).
//
// Messages are pulled only when a handler slot is free, so none waits in a
// local buffer while its AckWait runs out.
func Subscribe[T proto.Message](ctx context.Context, b *Bus, durable string, h Handler[T], opts SubscribeOptions) (*Subscription, error) {
	var zero T
	if any(zero) == nil { // T is an interface type such as proto.Message
		return nil, errors.New("events: Subscribe needs a concrete message pointer type, e.g. *eventsv1.UploadCompleted")
	}
	mt := zero.ProtoReflect().Type()
	subject, stream, err := route(mt.Descriptor())
	if err != nil {
		return nil, err
	}
	if !validDurable(durable) {
		return nil, fmt.Errorf("events: durable name %q must be non-empty letters, digits, '-' and '_'", durable)
	}
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &subscriber[T]{
		bus:     b,
		handler: h,
		msgType: mt,
		opts:    opts,
		stream:  stream,
		cfg: jetstream.ConsumerConfig{
			Durable:       durable,
			Description:   "StreamGate subscriber of " + string(mt.Descriptor().FullName()),
			FilterSubject: subject,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       opts.AckWait,
			MaxDeliver:    opts.MaxDeliver,
		},
		logger: b.logger.With("subject", subject, "durable", durable),
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, stream, s.cfg)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("events: subscribe %s: stream %s does not exist (call EnsureStreams): %w", subject, stream, err)
		}
		return nil, fmt.Errorf("events: subscribe %s as %s: %w", subject, durable, err)
	}
	fetchCtx, stopFetching := context.WithCancel(ctx)
	sub := &Subscription{stopFetching: stopFetching, done: make(chan struct{})}
	go func() {
		defer close(sub.done)
		defer stopFetching()
		s.run(fetchCtx, ctx, cons)
	}()
	return sub, nil
}

// subscriber holds what one subscription's loop and handlers share.
type subscriber[T proto.Message] struct {
	bus     *Bus
	handler Handler[T]
	msgType protoreflect.MessageType
	opts    SubscribeOptions
	stream  string
	cfg     jetstream.ConsumerConfig
	logger  *slog.Logger
}

// run pulls messages while fetchCtx lasts and hands each to a goroutine of
// its own, at most Concurrency at a time; handlers get handlerCtx. It returns
// after the handlers it started have returned.
func (s *subscriber[T]) run(fetchCtx, handlerCtx context.Context, cons jetstream.Consumer) {
	slots := make(chan struct{}, s.opts.Concurrency)
	var handlers sync.WaitGroup
	defer handlers.Wait()

	failures := 0
	for {
		if failures > 0 {
			delay := reconnectDelay(failures - 1)
			t := time.NewTimer(delay)
			select {
			case <-fetchCtx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			// The consumer may have been deleted, or the server may have
			// lost it; re-declaring it is harmless otherwise.
			c, err := s.bus.js.CreateOrUpdateConsumer(fetchCtx, s.stream, s.cfg)
			if err != nil {
				if fetchCtx.Err() != nil {
					return
				}
				s.logger.Warn("re-declaring consumer failed", "err", err, "attempt", failures)
				failures++
				continue
			}
			cons = c
		}

		// Reserve one free slot, waiting for it, then any others free now.
		select {
		case slots <- struct{}{}:
		case <-fetchCtx.Done():
			return
		}
		n := 1
	reserve:
		for n < cap(slots) {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break reserve
			}
		}

		got, err := s.fetch(fetchCtx, cons, n, func(msg jetstream.Msg) {
			handlers.Go(func() {
				defer func() { <-slots }()
				s.handle(handlerCtx, msg)
			})
		})
		for range n - got {
			<-slots
		}
		switch {
		case fetchCtx.Err() != nil:
			return
		case s.bus.nc.IsClosed():
			s.logger.Error("subscription ended: the NATS connection is closed")
			return
		case err != nil:
			failures++
			s.logger.Warn("fetching events failed", "err", err, "attempt", failures)
		default:
			failures = 0
		}
	}
}

// fetch sends one pull request for up to n messages and dispatches each as
// it arrives. It returns how many it dispatched.
func (s *subscriber[T]) fetch(ctx context.Context, cons jetstream.Consumer, n int, dispatch func(jetstream.Msg)) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchWait)
	defer cancel()
	batch, err := cons.Fetch(n, jetstream.FetchContext(ctx))
	if err != nil {
		return 0, err
	}
	got := 0
	for msg := range batch.Messages() {
		got++
		dispatch(msg)
	}
	err = batch.Error()
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil // the request simply expired
	}
	return got, err
}

// handle runs the handler on one message and settles the message by the
// outcome.
func (s *subscriber[T]) handle(ctx context.Context, msg jetstream.Msg) {
	logger := s.logger
	meta, err := msg.Metadata()
	if err != nil {
		// Not a JetStream delivery; nothing to acknowledge.
		logger.Error("message without JetStream metadata", "err", err)
		return
	}
	logger = logger.With("stream_seq", meta.Sequence.Stream, "delivered", meta.NumDelivered)
	if id := msg.Headers().Get(jetstream.MsgIDHeader); id != "" {
		logger = logger.With("event_id", id)
	}

	event, err := s.decode(msg)
	if err != nil {
		logger.Error("undecodable event, terminating it", "err", err)
		s.settle(logger, "term", msg.TermWithReason(reason("undecodable", err)))
		return
	}

	ctx = s.bus.propagator.Extract(ctx, headerCarrier(msg.Headers()))
	d := Delivery{
		Stream:       meta.Stream,
		Consumer:     meta.Consumer,
		Subject:      msg.Subject(),
		StreamSeq:    meta.Sequence.Stream,
		NumDelivered: meta.NumDelivered,
		Published:    meta.Timestamp,
	}
	ctx = context.WithValue(ctx, deliveryKey{}, d)
	ctx, endSpan := s.bus.startConsumerSpan(ctx, d, msg.Headers().Get(jetstream.MsgIDHeader))

	stopProgress := s.keepAlive(logger, msg)
	err = s.call(ctx, event)
	stopProgress()
	endSpan(err)

	switch {
	case err == nil:
		// The handler's ctx may be done by now; the ack must still go out.
		ackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
		defer cancel()
		if err := msg.DoubleAck(ackCtx); err != nil {
			logger.Warn("ack failed; the event will be redelivered", "err", err)
		}
	case errors.Is(err, ErrPermanent):
		logger.ErrorContext(ctx, "event handler failed permanently, terminating event", "err", err)
		s.settle(logger, "term", msg.TermWithReason(reason("permanent", err)))
	case ctx.Err() != nil:
		// Shutting down: hand the event back at once, for another instance.
		logger.WarnContext(ctx, "event handler interrupted, returning event", "err", err)
		s.settle(logger, "nak", msg.Nak())
	case s.opts.MaxDeliver > 0 && meta.NumDelivered >= uint64(s.opts.MaxDeliver):
		logger.ErrorContext(ctx, "event handler failed on the last delivery, giving up", "err", err, "max_deliver", s.opts.MaxDeliver)
		s.settle(logger, "term", msg.TermWithReason(reason("max deliveries", err)))
	default:
		delay := s.backoff(meta.NumDelivered)
		logger.WarnContext(ctx, "event handler failed, will retry", "err", err, "retry_in", delay)
		s.settle(logger, "nak", msg.NakWithDelay(delay))
	}
}

// call runs the handler, turning a panic into an error so that one bad event
// costs its retries rather than the process.
func (s *subscriber[T]) call(ctx context.Context, event T) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.logger.ErrorContext(ctx, "event handler panicked", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return s.handler(ctx, event)
}

func (s *subscriber[T]) decode(msg jetstream.Msg) (T, error) {
	var zero T
	want := s.msgType.Descriptor().FullName()
	if got := msg.Headers().Get(EventTypeHeader); got != "" && got != string(want) {
		return zero, fmt.Errorf("payload is a %s, want %s", got, want)
	}
	m := s.msgType.New().Interface()
	if err := proto.Unmarshal(msg.Data(), m); err != nil {
		return zero, fmt.Errorf("decode %s: %w", want, err)
	}
	return m.(T), nil
}

// backoff is the redelivery delay after delivery number n failed.
func (s *subscriber[T]) backoff(n uint64) time.Duration {
	i := min(int(max(n, 1)-1), len(s.opts.Backoff)-1)
	return s.opts.Backoff[i]
}

// keepAlive tells JetStream the message is still being worked on every
// AckWait/2 until the returned func is called, so a handler may take longer
// than AckWait without the event being redelivered to someone else.
func (s *subscriber[T]) keepAlive(logger *slog.Logger, msg jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(max(s.opts.AckWait/2, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := msg.InProgress(); err != nil {
					logger.Warn("in-progress ack failed", "err", err)
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

func (s *subscriber[T]) settle(logger *slog.Logger, what string, err error) {
	if err != nil {
		logger.Warn(what+" failed; the event will be redelivered after AckWait", "err", err)
	}
}

// reason shortens an error for the terminate advisory.
func reason(kind string, err error) string {
	r := kind + ": " + err.Error()
	if len(r) > 256 {
		r = r[:256]
	}
	return r
}
