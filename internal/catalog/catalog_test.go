package catalog_test

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	_ "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	optionsv1 "github.com/streamgate/streamgate/gen/go/streamgate/options/v1"
	"github.com/streamgate/streamgate/internal/catalog"
)

// TestContractRules checks the rules of docs/API_CONVENTIONS.md that buf
// lint cannot: every RPC declares who may call it, reads are marked free of
// side effects, internal RPCs have no REST route, and the server-streaming
// RPCs are the three the product names.
// services are the short names mesh certificates carry.
var services = []string{"gateway", "upload", "transcoder", "metadata", "auth", "streaming", "cache", "worker", "monitor"}

func TestContractRules(t *testing.T) {
	c := catalog.Default()
	if got := len(catalog.Services()); got != 9 {
		t.Fatalf("services = %d, want 9", got)
	}
	var streaming []string
	for _, m := range c.Methods() {
		if m.Access == optionsv1.Access_ACCESS_UNSPECIFIED {
			t.Errorf("%s: no (streamgate.options.v1.access) option", m.Procedure)
		}
		name := string(m.Name)
		isRead := strings.HasPrefix(name, "Get") || strings.HasPrefix(name, "List") ||
			strings.HasPrefix(name, "Search") || strings.HasPrefix(name, "Watch")
		if isRead && m.Idempotency != descriptorpb.MethodOptions_NO_SIDE_EFFECTS {
			t.Errorf("%s: a read must set idempotency_level = NO_SIDE_EFFECTS", m.Procedure)
		}
		if m.Access == optionsv1.Access_ACCESS_INTERNAL && m.HTTP != nil {
			t.Errorf("%s: internal RPC has a google.api.http route", m.Procedure)
		}
		if m.Access == optionsv1.Access_ACCESS_INTERNAL && len(m.Callers) == 0 {
			t.Errorf("%s: internal RPC names no (streamgate.options.v1.callers)", m.Procedure)
		}
		if m.Access != optionsv1.Access_ACCESS_INTERNAL && len(m.Callers) > 0 {
			t.Errorf("%s: callers are for internal RPCs only", m.Procedure)
		}
		for _, c := range m.Callers {
			if !slices.Contains(services, c) {
				t.Errorf("%s: caller %q is not a service", m.Procedure, c)
			}
		}
		if m.StreamType != catalog.Unary {
			streaming = append(streaming, string(m.Service.Name())+"."+name)
		}
	}
	want := map[string]bool{
		"TranscoderService.WatchJob":       true,
		"StreamingService.StreamSegments":  true,
		"MonitorService.WatchSystemHealth": true,
	}
	if len(streaming) != len(want) {
		t.Errorf("streaming RPCs = %v, want %v", streaming, want)
	}
	for _, s := range streaming {
		if !want[s] {
			t.Errorf("unexpected streaming RPC %s", s)
		}
	}
}

func TestLookup(t *testing.T) {
	c := catalog.Default()
	m, ok := c.Lookup("/streamgate.metadata.v1.MetadataService/GetVideo")
	if !ok {
		t.Fatal("GetVideo not found")
	}
	if m.Access != optionsv1.Access_ACCESS_PUBLIC || !m.Retryable() || m.HTTP.GetGet() != "/v1/videos/{video_id}" {
		t.Errorf("GetVideo = access %v retryable %v http %v", m.Access, m.Retryable(), m.HTTP)
	}
	m, ok = c.Lookup("/streamgate.auth.v1.AuthService/SignIn")
	if !ok || m.Retryable() {
		t.Errorf("SignIn: found %v, retryable %v; want found and not retryable", ok, m.Retryable())
	}
	if _, ok := c.Lookup("/streamgate.metadata.v1.MetadataService/Nope"); ok {
		t.Error("Lookup of an unknown procedure succeeded")
	}
	m, _ = c.Lookup("/streamgate.upload.v1.UploadService/DeleteVideoSource")
	if !m.MayCall("worker") || m.MayCall("gateway") || m.MayCall("metadata") || m.MayCall("") {
		t.Errorf("DeleteVideoSource callers %v: want the worker only", m.Callers)
	}
	m, _ = c.Lookup("/streamgate.metadata.v1.MetadataService/GetVideo")
	if !m.MayCall("gateway") || !m.MayCall("streaming") {
		t.Error("a public RPC refuses a mesh caller")
	}
	if got := (catalog.Method{}).EffectiveAccess(); got != optionsv1.Access_ACCESS_INTERNAL {
		t.Errorf("undeclared access enforces as %v, want ACCESS_INTERNAL", got)
	}
}

// TestEventOptions checks that every event payload names its subject and
// stream, and that subjects are unique.
func TestEventOptions(t *testing.T) {
	subjects := map[string]string{}
	var n int
	protoregistry.GlobalFiles.RangeFilesByPackage("streamgate.events.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Messages().Len() {
			md := fd.Messages().Get(i)
			ev, _ := proto.GetExtension(md.Options(), optionsv1.E_Event).(*optionsv1.EventOptions)
			if ev == nil {
				continue // a helper message such as RenditionProgress
			}
			n++
			if ev.GetSubject() == "" || ev.GetStream() == "" || strings.ContainsAny(ev.GetSubject(), "*> ") {
				t.Errorf("%s: event option %v needs a literal subject and a stream", md.FullName(), ev)
			}
			if p := ev.GetPublisher(); p != "*" && !slices.Contains(services, p) {
				t.Errorf("%s: publisher %q is neither a service nor \"*\"", md.FullName(), p)
			}
			if prev, dup := subjects[ev.GetSubject()]; dup {
				t.Errorf("subject %q used by %s and %s", ev.GetSubject(), prev, md.FullName())
			}
			subjects[ev.GetSubject()] = string(md.FullName())
			if md.Fields().ByName("event_id") == nil || md.Fields().ByName("occur_time") == nil {
				t.Errorf("%s: event payloads need event_id and occur_time", md.FullName())
			}
		}
		return true
	})
	if n < 9 {
		t.Errorf("found %d event payloads, want at least 9", n)
	}
}
