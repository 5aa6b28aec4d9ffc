// Package logship forwards log records to the event bus as
// streamgate.events.v1.LogRecord, for the monitor's log view. It wraps the
// process's slog.Handler: every record still goes to the wrapped handler;
// WARN and higher are also shipped, INFO is shipped one in N, DEBUG never.
// Shipping is asynchronous through a bounded buffer: when the buffer is full
// the record is dropped (and counted) rather than blocking the caller.
package logship

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
)

// Publisher is what the shipper needs from the bus (events.Bus satisfies it).
type Publisher interface {
	Publish(ctx context.Context, msg proto.Message) error
}

// Config configures a Shipper.
type Config struct {
	// Service is the service name stamped on every record. Required.
	Service string
	// InstanceID is the registered instance id.
	InstanceID string
	// InfoSampleEvery ships one INFO record in this many: 0 means the
	// default 10, 1 ships all of them, a negative value ships none.
	InfoSampleEvery int
	// BufferSize bounds the records waiting to be published; default 1024.
	BufferSize int
	// PublishTimeout bounds one publish; default 5s.
	PublishTimeout time.Duration
}

// maxAttributes is the LogRecord contract's limit.
const maxAttributes = 32

// Shipper buffers records and publishes them from Run.
type Shipper struct {
	cfg     Config
	pub     Publisher
	buf     chan *shipped
	infoSeq atomic.Uint64
	dropped atomic.Uint64
	failed  atomic.Uint64
	sent    atomic.Uint64
	// errLog reports publish failures; it must not be a handler wrapped by
	// this shipper, or a failing bus would feed itself.
	errLog *slog.Logger
}

type shipped struct {
	ctx context.Context
	rec *eventsv1.LogRecord
}

// New returns a shipper publishing through pub. errLog receives publish
// failures (rate-limited); pass the unwrapped logger.
func New(cfg Config, pub Publisher, errLog *slog.Logger) (*Shipper, error) {
	if cfg.Service == "" {
		return nil, errors.New("logship: Config.Service is required")
	}
	if pub == nil {
		return nil, errors.New("logship: nil publisher")
	}
	if errLog == nil {
		errLog = slog.New(slog.DiscardHandler)
	}
	if cfg.InfoSampleEvery == 0 {
		cfg.InfoSampleEvery = 10
	}
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = 1024
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 5 * time.Second
	}
	return &Shipper{cfg: cfg, pub: pub, buf: make(chan *shipped, cfg.BufferSize), errLog: errLog}, nil
}

// Stats are the shipper's counters.
type Stats struct {
	// Sent records were acknowledged by the bus.
	Sent uint64
	// Dropped records found the buffer full.
	Dropped uint64
	// Failed records could not be published.
	Failed uint64
}

// Stats returns the counters.
func (s *Shipper) Stats() Stats {
	return Stats{Sent: s.sent.Load(), Dropped: s.dropped.Load(), Failed: s.failed.Load()}
}

// Run publishes buffered records until ctx is done.
func (s *Shipper) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case it := <-s.buf:
			s.publish(ctx, it)
		}
	}
}

func (s *Shipper) publish(ctx context.Context, it *shipped) {
	// Keep the record's trace context (for the NATS headers) but not its
	// cancellation: the request that logged may be long gone.
	pctx, cancel := context.WithTimeout(trace.ContextWithSpanContext(ctx, trace.SpanContextFromContext(it.ctx)), s.cfg.PublishTimeout)
	defer cancel()
	if err := s.pub.Publish(pctx, it.rec); err != nil {
		n := s.failed.Add(1)
		if n == 1 || n%100 == 0 {
			s.errLog.Warn("log shipping: publish failed", "failed_total", n, "error", err)
		}
		return
	}
	s.sent.Add(1)
}

// Handler wraps next: records go to next as before and, when selected, to
// the bus.
func (s *Shipper) Handler(next slog.Handler) slog.Handler {
	return &handler{s: s, next: next}
}

// ship reports whether a record of level l is to be shipped.
func (s *Shipper) ship(l slog.Level) bool {
	switch {
	case l >= slog.LevelWarn:
		return true
	case l >= slog.LevelInfo:
		n := s.cfg.InfoSampleEvery
		if n < 0 {
			return false
		}
		return (s.infoSeq.Add(1)-1)%uint64(n) == 0
	default:
		return false
	}
}

func (s *Shipper) enqueue(ctx context.Context, rec *eventsv1.LogRecord) {
	select {
	case s.buf <- &shipped{ctx: ctx, rec: rec}:
	default:
		s.dropped.Add(1)
	}
}

// LevelToProto maps a slog level to the LogRecord level.
func LevelToProto(l slog.Level) eventsv1.LogLevel {
	switch {
	case l >= slog.LevelError:
		return eventsv1.LogLevel_LOG_LEVEL_ERROR
	case l >= slog.LevelWarn:
		return eventsv1.LogLevel_LOG_LEVEL_WARN
	case l >= slog.LevelInfo:
		return eventsv1.LogLevel_LOG_LEVEL_INFO
	default:
		return eventsv1.LogLevel_LOG_LEVEL_DEBUG
	}
}

type handler struct {
	s      *Shipper
	next   slog.Handler
	attrs  []prefixed // from WithAttrs
	prefix string     // open groups, "a.b."
}

// prefixed is an attribute added under the groups open at the time.
type prefixed struct {
	prefix string
	attr   slog.Attr
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.next.Enabled(ctx, l)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.next.Enabled(ctx, r.Level) {
		err = h.next.Handle(ctx, r)
	}
	if !h.s.ship(r.Level) {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	rec := &eventsv1.LogRecord{
		EventId:    ulid.Make().String(),
		OccurTime:  timestamppb.New(recordTime(r)),
		Service:    h.s.cfg.Service,
		InstanceId: h.s.cfg.InstanceID,
		Level:      LevelToProto(r.Level),
		Message:    r.Message,
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		rec.TraceId = sc.TraceID().String()
		rec.SpanId = sc.SpanID().String()
	}
	attrs := make(map[string]string)
	add := func(prefix string, a slog.Attr) bool {
		addAttr(attrs, prefix, a)
		return len(attrs) < maxAttributes
	}
	for _, a := range h.attrs {
		if !add(a.prefix, a.attr) {
			break
		}
	}
	if len(attrs) < maxAttributes {
		r.Attrs(func(a slog.Attr) bool { return add(h.prefix, a) })
	}
	if len(attrs) > 0 {
		rec.Attributes = attrs
	}
	h.s.enqueue(ctx, rec)
	return err
}

func recordTime(r slog.Record) time.Time {
	if r.Time.IsZero() {
		return time.Now()
	}
	return r.Time
}

// addAttr flattens a (possibly group) attribute into m with dotted keys.
func addAttr(m map[string]string, prefix string, a slog.Attr) {
	if len(m) >= maxAttributes {
		return
	}
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p = prefix + a.Key + "."
		}
		for _, ga := range v.Group() {
			addAttr(m, p, ga)
		}
		return
	}
	if a.Key == "" {
		return
	}
	m[prefix+a.Key] = valueString(v)
}

func valueString(v slog.Value) string {
	switch v.Kind() {
	case slog.KindString:
		return v.String()
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return err.Error()
		}
		return fmt.Sprint(v.Any())
	default:
		return v.String()
	}
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	c := *h
	c.next = h.next.WithAttrs(as)
	c.attrs = append([]prefixed(nil), h.attrs...)
	for _, a := range as {
		c.attrs = append(c.attrs, prefixed{prefix: h.prefix, attr: a})
	}
	return &c
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.next = h.next.WithGroup(name)
	c.prefix = h.prefix + name + "."
	return &c
}
