// Package events publishes and consumes the streamgate.events.v1 messages on
// NATS JetStream. Each event message names its subject and stream in the
// streamgate.options.v1.event option, so the contract, not this package or its
// callers, decides where an event travels. Delivery is at least once: Publish
// sets Nats-Msg-Id from event_id so JetStream drops republished duplicates
// within its window, and consumer handlers are idempotent for the rest (a
// redelivery after a lost ack changes nothing).
package events

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Bus is a NATS connection with JetStream, shared by the services of one
// process. It is safe for concurrent use.
type Bus struct {
	nc         *nats.Conn
	js         jetstream.JetStream
	logger     *slog.Logger
	propagator propagation.TextMapPropagator
	tracer     trace.Tracer // nil: no consumer spans (WithTracerProvider)
	replicas   int          // of the streams and buckets EnsureStream and EnsureKeyValue create
}

// Option configures Connect.
type Option func(*options)

type options struct {
	name           string
	propagator     propagation.TextMapPropagator
	tracerProvider trace.TracerProvider
	replicas       int
	tls            *tls.Config
}

// WithPropagator sets how trace context travels in message headers. The
// default is W3C Trace Context (propagation.TraceContext{}); pass a composite
// propagator to carry baggage too.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(o *options) { o.propagator = p }
}

// WithReplicas sets how many copies JetStream keeps of every stream and
// key-value bucket this Bus creates (EnsureStreams, EnsureStream,
// EnsureKeyValue): 1, the default, for a single server; 3 in a cluster, so
// losing one server loses nothing. It applies to what is created only: an
// existing stream keeps the replica count it has.
func WithReplicas(n int) Option {
	return func(o *options) { o.replicas = n }
}

// WithName sets the connection name the NATS server shows in its monitoring
// (default "streamgate"), e.g. the service or node name.
func WithName(name string) Option {
	return func(o *options) { o.name = name }
}

// WithTLS makes Connect speak TLS with cfg, e.g. a meshtls.Source's
// ClientConfig("nats"): the server maps the certificate the client presents
// to the service's NATS user and its subject permissions.
func WithTLS(cfg *tls.Config) Option {
	return func(o *options) { o.tls = cfg }
}

// Connect connects to NATS at url and keeps reconnecting forever, with
// capped, jittered backoff, so a NATS restart is an outage the services ride
// out rather than a crash. If no server answers at first, Connect keeps trying
// until ctx is done, so services need not start after NATS.
func Connect(ctx context.Context, url string, logger *slog.Logger, opts ...Option) (*Bus, error) {
	o := options{name: "streamgate", propagator: propagation.TraceContext{}, replicas: 1}
	for _, opt := range opts {
		opt(&o)
	}
	if o.replicas < 1 || o.replicas > 5 {
		return nil, fmt.Errorf("events: %d replicas: want 1 to 5", o.replicas)
	}
	natsOpts := []nats.Option{
		nats.Name(o.name),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(reconnectDelay),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			attrs := []any{"err", err}
			if sub != nil {
				attrs = append(attrs, "subject", sub.Subject)
			}
			logger.Error("nats async error", attrs...)
		}),
	}
	if o.tls != nil {
		natsOpts = append(natsOpts, nats.Secure(o.tls))
	}
	for attempt := 0; ; attempt++ {
		nc, err := nats.Connect(url, natsOpts...)
		if err == nil {
			js, err := jetstream.New(nc)
			if err != nil {
				nc.Close()
				return nil, fmt.Errorf("events: jetstream: %w", err)
			}
			b := &Bus{nc: nc, js: js, logger: logger, propagator: o.propagator, replicas: o.replicas}
			if o.tracerProvider != nil {
				b.tracer = o.tracerProvider.Tracer(instrumentationName)
			}
			return b, nil
		}
		// Only "nobody answered" is worth waiting out; a bad URL, TLS or
		// auth error will not fix itself.
		if !errors.Is(err, nats.ErrNoServers) {
			return nil, fmt.Errorf("events: connect %s: %w", url, err)
		}
		delay := reconnectDelay(attempt)
		logger.WarnContext(ctx, "nats not reachable, retrying", "url", url, "retry_in", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("events: connect %s: %w", url, errors.Join(err, ctx.Err()))
		case <-t.C:
		}
	}
}

// reconnectDelay is 100ms doubling to 5s, plus up to 20% jitter so that many
// clients do not reconnect in lockstep after a server restart.
func reconnectDelay(attempts int) time.Duration {
	d := 5 * time.Second
	if attempts < 6 {
		d = 100 * time.Millisecond << attempts
	}
	return d + rand.N(d/5+1)
}

// Close flushes what is buffered (acks are sent asynchronously) and closes
// the connection. Stop subscriptions first.
func (b *Bus) Close() {
	if b.nc.IsConnected() {
		if err := b.nc.FlushTimeout(2 * time.Second); err != nil {
			b.logger.Warn("nats flush on close", "err", err)
		}
	}
	b.nc.Close()
}

// JetStream exposes the JetStream context for what this package does not
// wrap, such as work-queue streams and key-value buckets.
func (b *Bus) JetStream() jetstream.JetStream {
	return b.js
}
