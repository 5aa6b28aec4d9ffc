// Package catalog is the table of every StreamGate RPC, read from the
// compiled contracts: who may call it (the streamgate.options.v1.access
// option), whether it is safe to retry, whether it streams, and its REST
// route. The gateway enforces access from it and the discovery client decides
// retries from it, so the contract stays the single source of truth.
package catalog

import (
	"fmt"
	"slices"
	"sort"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	cachev1 "github.com/streamgate/streamgate/gen/go/streamgate/cache/v1"
	gatewayv1 "github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	monitorv1 "github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1"
	optionsv1 "github.com/streamgate/streamgate/gen/go/streamgate/options/v1"
	streamingv1 "github.com/streamgate/streamgate/gen/go/streamgate/streaming/v1"
	transcoderv1 "github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1"
	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
	workerv1 "github.com/streamgate/streamgate/gen/go/streamgate/worker/v1"
)

// Services returns the descriptors of the nine StreamGate services, in a
// fixed order.
func Services() []protoreflect.ServiceDescriptor {
	files := []protoreflect.FileDescriptor{
		gatewayv1.File_streamgate_gateway_v1_gateway_service_proto,
		uploadv1.File_streamgate_upload_v1_upload_service_proto,
		transcoderv1.File_streamgate_transcoder_v1_transcoder_service_proto,
		metadatav1.File_streamgate_metadata_v1_metadata_service_proto,
		authv1.File_streamgate_auth_v1_auth_service_proto,
		streamingv1.File_streamgate_streaming_v1_streaming_service_proto,
		cachev1.File_streamgate_cache_v1_cache_service_proto,
		workerv1.File_streamgate_worker_v1_worker_service_proto,
		monitorv1.File_streamgate_monitor_v1_monitor_service_proto,
	}
	out := make([]protoreflect.ServiceDescriptor, 0, len(files))
	for _, f := range files {
		for i := range f.Services().Len() {
			out = append(out, f.Services().Get(i))
		}
	}
	return out
}

// StreamType says which side of an RPC streams.
type StreamType int

const (
	// Unary is one request, one response.
	Unary StreamType = iota
	// ServerStream is one request, a stream of responses.
	ServerStream
	// ClientStream is a stream of requests, one response.
	ClientStream
	// BidiStream streams both ways.
	BidiStream
)

// Method is one RPC as the gateway and the clients see it.
type Method struct {
	// Procedure is the Connect/gRPC path, "/streamgate.x.v1.XService/Method".
	Procedure string
	// Service is the fully-qualified service name.
	Service protoreflect.FullName
	// Name is the method name.
	Name protoreflect.Name
	// Access is who may call it; ACCESS_UNSPECIFIED is treated as internal.
	Access optionsv1.Access
	// Idempotency is the declared idempotency level.
	Idempotency descriptorpb.MethodOptions_IdempotencyLevel
	// StreamType says which side streams.
	StreamType StreamType
	// Callers are the services (short names) that may call an internal
	// RPC, from its (streamgate.options.v1.callers) options.
	Callers []string
	// HTTP is the REST mapping, nil when the RPC has none.
	HTTP *annotations.HttpRule
	// Descriptor is the method's descriptor.
	Descriptor protoreflect.MethodDescriptor
}

// Retryable reports whether a failed call may be sent again: only RPCs whose
// contract says they have no side effects or are idempotent.
func (m Method) Retryable() bool {
	return m.Idempotency == descriptorpb.MethodOptions_NO_SIDE_EFFECTS ||
		m.Idempotency == descriptorpb.MethodOptions_IDEMPOTENT
}

// EffectiveAccess is the access the gateway enforces: an undeclared access
// fails closed to internal.
func (m Method) EffectiveAccess() optionsv1.Access {
	if m.Access == optionsv1.Access_ACCESS_UNSPECIFIED {
		return optionsv1.Access_ACCESS_INTERNAL
	}
	return m.Access
}

// Catalog indexes methods by procedure.
type Catalog struct {
	methods     []Method
	byProcedure map[string]int
}

// New builds a catalog of the given services.
func New(services ...protoreflect.ServiceDescriptor) *Catalog {
	c := &Catalog{byProcedure: map[string]int{}}
	for _, sd := range services {
		for i := range sd.Methods().Len() {
			m := describe(sd.Methods().Get(i))
			c.byProcedure[m.Procedure] = len(c.methods)
			c.methods = append(c.methods, m)
		}
	}
	sort.SliceStable(c.methods, func(i, j int) bool { return c.methods[i].Procedure < c.methods[j].Procedure })
	for i, m := range c.methods {
		c.byProcedure[m.Procedure] = i
	}
	return c
}

// Default returns the catalog of all nine services.
func Default() *Catalog { return New(Services()...) }

// Lookup returns the method for a procedure path.
func (c *Catalog) Lookup(procedure string) (Method, bool) {
	i, ok := c.byProcedure[procedure]
	if !ok {
		return Method{}, false
	}
	return c.methods[i], true
}

// ClientCallable reports whether a client may call md through the edge: a
// public or session RPC of this catalog. Operator-only, internal and
// unknown ones are not (the public listener's reflection hides them).
func (c *Catalog) ClientCallable(md protoreflect.MethodDescriptor) bool {
	m, ok := c.Lookup(fmt.Sprintf("/%s/%s", md.Parent().FullName(), md.Name()))
	if !ok {
		return false
	}
	a := m.EffectiveAccess()
	return a == optionsv1.Access_ACCESS_PUBLIC || a == optionsv1.Access_ACCESS_SESSION
}

// Methods returns every method, ordered by procedure.
func (c *Catalog) Methods() []Method { return append([]Method(nil), c.methods...) }

func describe(md protoreflect.MethodDescriptor) Method {
	sd := md.Parent().(protoreflect.ServiceDescriptor)
	m := Method{
		Procedure:  fmt.Sprintf("/%s/%s", sd.FullName(), md.Name()),
		Service:    sd.FullName(),
		Name:       md.Name(),
		Descriptor: md,
	}
	switch {
	case md.IsStreamingClient() && md.IsStreamingServer():
		m.StreamType = BidiStream
	case md.IsStreamingClient():
		m.StreamType = ClientStream
	case md.IsStreamingServer():
		m.StreamType = ServerStream
	}
	opts, ok := md.Options().(*descriptorpb.MethodOptions)
	if !ok || opts == nil {
		return m
	}
	m.Idempotency = opts.GetIdempotencyLevel()
	if a, ok := proto.GetExtension(opts, optionsv1.E_Access).(optionsv1.Access); ok {
		m.Access = a
	}
	if cs, ok := proto.GetExtension(opts, optionsv1.E_Callers).([]string); ok {
		m.Callers = cs
	}
	if r, ok := proto.GetExtension(opts, annotations.E_Http).(*annotations.HttpRule); ok && r != nil {
		m.HTTP = r
	}
	return m
}

// MayCall reports whether the service named caller (a short name, as in
// a mesh certificate) may call m over the mesh: any service may call an
// RPC open to clients (the caller's own claims decide the rest), only the
// listed callers an internal one.
func (m Method) MayCall(caller string) bool {
	if m.EffectiveAccess() != optionsv1.Access_ACCESS_INTERNAL {
		return true
	}
	return slices.Contains(m.Callers, caller)
}
