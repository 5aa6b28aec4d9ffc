package telemetry_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/streamgate/streamgate/internal/telemetry"
)

// otlpReceiver is a real OTLP/HTTP trace receiver: it decodes each
// protobuf ExportTraceServiceRequest POSTed to /v1/traces.
type otlpReceiver struct {
	mu   sync.Mutex
	reqs []*collectortrace.ExportTraceServiceRequest
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want POST /v1/traces application/x-protobuf", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var m collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, &m)
	r.mu.Unlock()
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func TestOTLPExport(t *testing.T) {
	recv := &otlpReceiver{}
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	tel, err := telemetry.New(t.Context(), telemetry.Config{ServiceName: "streamgate", InstanceID: "instance-1", OTLPEndpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, parent := tel.TracerProvider.Tracer("test").Start(t.Context(), "parent")
	_, child := tel.TracerProvider.Tracer("test").Start(ctx, "child")
	child.End()
	parent.End()
	// Shutdown flushes the batch.
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	recv.mu.Lock()
	defer recv.mu.Unlock()
	spans := map[string][]byte{} // name -> parent span id
	var traceIDs [][]byte
	for _, req := range recv.reqs {
		for _, rs := range req.GetResourceSpans() {
			attrs := map[string]string{}
			for _, kv := range rs.GetResource().GetAttributes() {
				attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
			}
			if attrs["service.name"] != "streamgate" || attrs["service.instance.id"] != "instance-1" {
				t.Errorf("resource attributes %v", attrs)
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, sp := range ss.GetSpans() {
					spans[sp.GetName()] = sp.GetParentSpanId()
					traceIDs = append(traceIDs, sp.GetTraceId())
				}
			}
		}
	}
	if len(spans) != 2 {
		t.Fatalf("received spans %v, want parent and child", spans)
	}
	psc := parent.SpanContext().SpanID()
	if got := spans["child"]; string(got) != string(psc[:]) {
		t.Errorf("child's parent id %x, want %x", got, psc[:])
	}
	tid := parent.SpanContext().TraceID()
	for _, id := range traceIDs {
		if string(id) != string(tid[:]) {
			t.Errorf("trace id %x, want %x", id, tid[:])
		}
	}
}

func TestOTLPEndpointValidated(t *testing.T) {
	for _, ep := range []string{"127.0.0.1:4318", "ftp://x", "http://", "http://h:4318/?q=1"} {
		if _, err := telemetry.New(t.Context(), telemetry.Config{ServiceName: "s", OTLPEndpoint: ep}); err == nil {
			t.Errorf("OTLPEndpoint %q: nil error, want one", ep)
		}
	}
}
