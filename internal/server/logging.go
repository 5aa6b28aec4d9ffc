package server

import (
	"context"
	"log/slog"
	"time"

	"connectrpc.com/connect"
	"go.opentelemetry.io/otel/trace"

	"github.com/streamgate/streamgate/internal/rpcerr"
)

// accessLog writes one record per RPC, unary or streaming, when it ends.
// The level says whose fault a failure is: codes that mean the server broke
// are ERROR (or WARN for Unavailable, which is usually a dependency that
// will come back); everything a client can cause is INFO, so a bad client
// cannot page anyone.
type accessLog struct {
	logger *slog.Logger
}

func newAccessLog(logger *slog.Logger) *accessLog { return &accessLog{logger: logger} }

func (a *accessLog) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		start := time.Now()
		res, err := next(ctx, req)
		a.log(ctx, req.Spec(), req.Peer(), start, err)
		return res, err
	}
}

// WrapStreamingClient is a pass-through: this chain is only installed on
// handlers.
func (a *accessLog) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (a *accessLog) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		counted := &countingConn{StreamingHandlerConn: conn}
		err := next(ctx, counted)
		a.log(ctx, conn.Spec(), conn.Peer(), start, err,
			slog.Int("received", counted.received),
			slog.Int("sent", counted.sent),
		)
		return err
	}
}

func (a *accessLog) log(ctx context.Context, spec connect.Spec, peer connect.Peer, start time.Time, err error, extra ...slog.Attr) {
	level, code := slog.LevelInfo, "ok"
	if err != nil {
		c := connect.CodeOf(err)
		level, code = rpcerr.LevelFor(c), c.String()
	}
	if !a.logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 8+len(extra))
	attrs = append(attrs,
		slog.String("procedure", spec.Procedure),
		slog.String("protocol", peer.Protocol),
		slog.String("peer", peer.Addr),
		slog.String("code", code),
		slog.Duration("duration", time.Since(start)),
	)
	attrs = append(attrs, extra...)
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
	}
	a.logger.LogAttrs(ctx, level, "rpc", attrs...)
}

// countingConn counts messages for the access log. Receive and Send may run
// concurrently with each other but each is never concurrent with itself, so
// the two counters need no lock; they are read after the handler returns.
type countingConn struct {
	connect.StreamingHandlerConn
	received, sent int
}

func (c *countingConn) Receive(msg any) error {
	err := c.StreamingHandlerConn.Receive(msg)
	if err == nil {
		c.received++
	}
	return err
}

func (c *countingConn) Send(msg any) error {
	err := c.StreamingHandlerConn.Send(msg)
	if err == nil {
		c.sent++
	}
	return err
}
