package events_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"connectrpc.com/otelconnect"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	gatewayv1 "github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1/gatewayv1connect"
	"github.com/streamgate/streamgate/internal/events"
)

// publishingHandler publishes an event from inside an RPC, as services do
// (upload's completion, metadata's video.ready).
type publishingHandler struct {
	gatewayv1connect.UnimplementedGatewayServiceHandler
	bus *events.Bus
}

func (h publishingHandler) GetClientConfig(ctx context.Context, _ *connect.Request[gatewayv1.GetClientConfigRequest]) (*connect.Response[gatewayv1.GetClientConfigResponse], error) {
	if err := h.bus.Publish(ctx, uploadCompleted("rpc-1")); err != nil {
		return nil, err
	}
	return connect.NewResponse(&gatewayv1.GetClientConfigResponse{}), nil
}

// TestTraceAcrossRPCAndEvent: one trace id runs from a client's span
// through a Connect call (traceparent header, otelconnect as the server
// runtime configures it) and the event the handler publishes (NATS
// headers) into the subscriber's handler.
func TestTraceAcrossRPCAndEvent(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prop := propagation.TraceContext{}
	_, b := startBus(t, events.WithTracerProvider(tp))

	got := make(chan trace.SpanContext, 1)
	subscribe(t, b, "rpc-traced", func(ctx context.Context, _ *eventsv1.UploadCompleted) error {
		got <- trace.SpanContextFromContext(ctx)
		return nil
	}, events.SubscribeOptions{})

	serverOtel, err := otelconnect.NewInterceptor(otelconnect.WithTracerProvider(tp), otelconnect.WithPropagator(prop), otelconnect.WithTrustRemote())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(gatewayv1connect.NewGatewayServiceHandler(publishingHandler{bus: b}, connect.WithInterceptors(serverOtel)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	clientOtel, err := otelconnect.NewInterceptor(otelconnect.WithTracerProvider(tp), otelconnect.WithPropagator(prop))
	if err != nil {
		t.Fatal(err)
	}
	client := gatewayv1connect.NewGatewayServiceClient(srv.Client(), srv.URL, connect.WithInterceptors(clientOtel))
	ctx, root := tp.Tracer("test").Start(t.Context(), "client request")
	_, err = client.GetClientConfig(ctx, connect.NewRequest(&gatewayv1.GetClientConfigRequest{}))
	root.End()
	if err != nil {
		t.Fatal(err)
	}
	sc := receive(t, got, "the event")
	if want := root.SpanContext().TraceID(); sc.TraceID() != want {
		t.Fatalf("subscriber's trace id %s, want the client's %s", sc.TraceID(), want)
	}
	// The server span in between continued the client's trace too.
	var server bool
	for _, sp := range rec.Ended() {
		if sp.SpanKind() == trace.SpanKindServer && sp.SpanContext().TraceID() == root.SpanContext().TraceID() {
			server = true
		}
	}
	if !server {
		t.Error("no server span in the client's trace")
	}
}
