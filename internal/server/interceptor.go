package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/otelconnect"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/streamgate/streamgate/internal/telemetry"
)

// baseInterceptors builds the part of the chain every service shares,
// outermost first: otelconnect (so the span covers everything, the access
// log included) and, unless accessLog is false, the access log.
func (s *Server) baseInterceptors(t *telemetry.Telemetry, accessLog bool) ([]connect.Interceptor, error) {
	var otelOpts []otelconnect.Option
	if t != nil {
		otelOpts = append(otelOpts,
			otelconnect.WithTracerProvider(t.TracerProvider),
			otelconnect.WithMeterProvider(t.MeterProvider),
			otelconnect.WithPropagator(t.Propagator),
			// Calls between services carry the caller's trace context;
			// continuing it (rather than linking) gives one trace per
			// request across the mesh.
			otelconnect.WithTrustRemote(),
		)
	} else {
		// Explicit no-ops: otelconnect would otherwise read the otel
		// globals. The W3C propagator still lets trace context pass through.
		otelOpts = append(otelOpts,
			otelconnect.WithTracerProvider(tracenoop.NewTracerProvider()),
			otelconnect.WithMeterProvider(metricnoop.NewMeterProvider()),
			otelconnect.WithPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})),
		)
	}
	otel, err := otelconnect.NewInterceptor(otelOpts...)
	if err != nil {
		return nil, fmt.Errorf("server: otelconnect: %w", err)
	}
	if !accessLog {
		return []connect.Interceptor{otel}, nil
	}
	return []connect.Interceptor{otel, newAccessLog(s.logger)}, nil
}

// handlerOptions are the options every service's handler is built with. The
// chain is base, then validation when the service has a validator, then the
// default deadline, then the caller's interceptors. WithRecover comes last,
// so it sits innermost: a panic is already CodeInternal when the access log
// and the span see it.
func (s *Server) handlerOptions(svc Service, base, extra []connect.Interceptor) []connect.HandlerOption {
	chain := append([]connect.Interceptor(nil), base...)
	if v, ok := svc.(RequestValidator); ok {
		chain = append(chain, validateInterceptor{v: v})
	}
	chain = append(chain, unaryTimeout(s.cfg.UnaryTimeout), drainStreams{stop: s.streamsStop})
	chain = append(chain, extra...)
	return []connect.HandlerOption{
		connect.WithInterceptors(chain...),
		connect.WithRecover(s.recoverPanic),
		connect.WithCompressMinBytes(compressMinBytes),
		connect.WithReadMaxBytes(s.cfg.ReadMaxBytes),
	}
}

// recoverPanic logs the panic with its stack and gives the client a bare
// CodeInternal: panic values and stacks can hold anything and never leave
// the process.
func (s *Server) recoverPanic(ctx context.Context, spec connect.Spec, _ http.Header, r any) error {
	s.logger.LogAttrs(ctx, slog.LevelError, "panic in handler",
		slog.String("procedure", spec.Procedure),
		slog.Any("panic", r),
		slog.String("stack", string(debug.Stack())),
	)
	return connect.NewError(connect.CodeInternal, errors.New("internal error"))
}

// unaryTimeout gives unary calls without a client deadline one of d, so a
// stuck dependency cannot pin a handler forever now that the server has no
// WriteTimeout. Streams are left alone: they are meant to be long.
func unaryTimeout(d time.Duration) connect.Interceptor {
	return connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if _, ok := ctx.Deadline(); ok || req.Spec().IsClient {
				return next(ctx, req)
			}
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			return next(ctx, req)
		}
	})
}

// errDraining is the cause a server stream's context is canceled with when
// the drain deadline passes.
var errDraining = errors.New("server draining")

// drainStreams ends the server streams a drain could not wait out with
// Unavailable rather than Canceled: the call did not fail, this instance is
// going away, and a client (WatchJob, StreamSegments) should resume on
// another one.
type drainStreams struct{ stop context.Context }

func (d drainStreams) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc { return next }

func (d drainStreams) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (d drainStreams) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		defer context.AfterFunc(d.stop, func() { cancel(errDraining) })()
		err := next(ctx, conn)
		if err != nil && errors.Is(context.Cause(ctx), errDraining) {
			return connect.NewError(connect.CodeUnavailable, errors.New("the server is shutting down: resume the stream on another instance"))
		}
		return err
	}
}
