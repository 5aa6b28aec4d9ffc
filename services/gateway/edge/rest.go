package edge

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1/gatewayv1connect"
)

// OpenAPIPath is where the edge serves the OpenAPI document of the REST
// routes.
const OpenAPIPath = "/openapi.json"

// newTranscoder returns vanguard's REST/JSON transcoder for every service in
// the catalog, per the google.api.http annotations in the contracts. Each
// REST call becomes a Connect call (binary protobuf) and enters the edge's
// pipeline as one: the same access class, credential check, limits and
// access log, then the proxy to the mesh (or the gateway's own handler).
//
// With post, the Connect calls are all POSTs (see postProtoCodec).
func (e *Edge) newTranscoder(post bool) (*vanguard.Transcoder, error) {
	var services []*vanguard.Service
	seen := map[protoreflect.FullName]bool{}
	rpc := http.HandlerFunc(e.serveTranscoded)
	for _, m := range e.cat.Methods() {
		if seen[m.Service] {
			continue
		}
		seen[m.Service] = true
		sd, ok := m.Descriptor.Parent().(protoreflect.ServiceDescriptor)
		if !ok {
			continue
		}
		services = append(services, vanguard.NewServiceWithSchema(sd, rpc,
			vanguard.WithTargetProtocols(vanguard.ProtocolConnect),
			vanguard.WithTargetCodecs(vanguard.CodecProto),
		))
	}
	opts := []vanguard.TranscoderOption{
		vanguard.WithUnknownHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.handle(w, r, nil) })),
	}
	if post {
		opts = append(opts, vanguard.WithCodec(newPostProtoCodec))
	}
	return vanguard.NewTranscoder(services, opts...)
}

// restGetPostURLBytes is the REST GET URL (path and query) length from
// which the Connect call behind it is a POST rather than a GET.
const restGetPostURLBytes = 1 << 10

// transcoder picks the transcoder for a REST call. The message of a GET
// comes from its URL; vanguard passes a small one on as a Connect GET
// (headers only; measured no slower than a POST), but a large one costs more
// to put in a URL and take out again than to send as a body.
func (e *Edge) transcoder(r *http.Request) *vanguard.Transcoder {
	if r.Method == http.MethodGet && len(r.URL.EscapedPath())+len(r.URL.RawQuery) >= restGetPostURLBytes {
		return e.restPost
	}
	return e.rest
}

// postProtoCodec is vanguard's proto codec without MarshalAppendStable.
// Given a stable codec, vanguard passes a NO_SIDE_EFFECTS call on as a
// Connect GET with the message base64-encoded in the URL: a URL encode here
// and a decode in the service, where a POST carries the bytes as they are
// (BenchmarkREST gzip-3KiB: about 100 us less per call).
type postProtoCodec struct{ proto *vanguard.ProtoCodec }

func newPostProtoCodec(res vanguard.TypeResolver) vanguard.Codec {
	return postProtoCodec{proto: vanguard.NewProtoCodec(res)}
}

func (c postProtoCodec) Name() string { return c.proto.Name() }

func (c postProtoCodec) MarshalAppend(base []byte, msg proto.Message) ([]byte, error) {
	return c.proto.MarshalAppend(base, msg)
}

func (c postProtoCodec) Unmarshal(data []byte, msg proto.Message) error {
	return c.proto.Unmarshal(data, msg)
}

// serveTranscoded takes a call vanguard turned into Connect: the gateway's
// own RPCs go to the local handler given to Wrap, the others to the mesh.
func (e *Edge) serveTranscoded(w http.ResponseWriter, r *http.Request) {
	if local := e.local.Load(); local != nil && strings.HasPrefix(r.URL.Path, "/"+gatewayv1connect.GatewayServiceName+"/") {
		e.handle(w, r, *local)
		return
	}
	e.handle(w, r, nil)
}

// isRPCPath reports whether the request is for an RPC or a plain-HTTP
// route the edge serves as is (no transcoding): "/<package>.<Service>/...",
// the tus and media prefixes, and CORS preflights.
func (e *Edge) isRPCPath(r *http.Request) bool {
	if r.Method == http.MethodOptions {
		return true
	}
	for _, rt := range httpRoutes {
		if strings.HasPrefix(r.URL.Path, rt.prefix) {
			return true
		}
	}
	svc, _, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	// Anything shaped like a protobuf service name ("pkg.Service") is an
	// RPC path, known or not: the edge answers unknown ones NotFound.
	return ok && strings.Contains(svc, ".")
}

// serveREST runs a REST call through the transcoder and rewrites its error
// bodies into Connect's JSON error shape, {"code": "not_found", "message":
// ..., "details": [...]}, with Connect's HTTP status for the code: the same
// errors a Connect-JSON client sees.
func (e *Edge) serveREST(w http.ResponseWriter, r *http.Request) {
	// Bound and check a JSON body here: vanguard answers a malformed one
	// badly (an Unknown error or a dropped connection).
	if r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength > e.cfg.MaxRequestBytes {
			e.restRefuse(w, r, connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("request body exceeds %d bytes", e.cfg.MaxRequestBytes)))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, e.cfg.MaxRequestBytes+1))
		switch {
		case err != nil:
			e.restRefuse(w, r, connect.NewError(connect.CodeInvalidArgument, errors.New("could not read the request body")))
			return
		case int64(len(body)) > e.cfg.MaxRequestBytes:
			e.restRefuse(w, r, connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("request body exceeds %d bytes", e.cfg.MaxRequestBytes)))
			return
		}
		if err := e.checkBody(r, body); err != nil {
			e.restRefuse(w, r, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	// restWriter compresses the answer itself, and only when worth it:
	// without Accept-Encoding the Connect hop behind vanguard is not
	// gzipped and vanguard does not gzip its JSON either.
	gzipOK := acceptsGzip(r.Header)
	r.Header.Del("Accept-Encoding")
	// The access log names the REST route besides the procedure.
	r = r.WithContext(context.WithValue(r.Context(), restKey{}, r.Method+" "+r.URL.Path))
	rw := newRESTWriter(w, gzipOK)
	e.transcoder(r).ServeHTTP(rw, r)
	rw.finish()
}

// checkBody refuses a body that is not JSON, or not JSON of the message its
// route decodes it into. Decoding into the generated type checks both the
// syntax and the shape; json.Valid then runs only to word the error.
func (e *Edge) checkBody(r *http.Request, body []byte) *connect.Error {
	if len(body) == 0 {
		return nil
	}
	mt := e.bodyMessage(r)
	if mt == nil {
		if !json.Valid(body) {
			return connect.NewError(connect.CodeInvalidArgument, errors.New("the request body is not valid JSON"))
		}
		return nil
	}
	if err := protojson.Unmarshal(body, mt.New().Interface()); err != nil {
		if !json.Valid(body) {
			return connect.NewError(connect.CodeInvalidArgument, errors.New("the request body is not valid JSON"))
		}
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("the request body is not a valid %s: %v", mt.Descriptor().Name(), err))
	}
	return nil
}

type restKey struct{}

// grpcStatusJSON is google.rpc.Status in protojson.
type grpcStatusJSON struct {
	Code    int               `json:"code"`
	Message string            `json:"message"`
	Details []json.RawMessage `json:"details"`
}

type connectErrorDetail struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type connectErrorBody struct {
	Code    string               `json:"code"`
	Message string               `json:"message,omitempty"`
	Details []connectErrorDetail `json:"details,omitempty"`
}

// connectErrorJSON turns a google.rpc.Status JSON body into Connect's error
// JSON and its HTTP status. A body that is not a status (say, a plain 404
// from an unknown route) keeps the HTTP status and gets the matching code.
func connectErrorJSON(body []byte, status int) ([]byte, int) {
	var st grpcStatusJSON
	var out connectErrorBody
	if err := json.Unmarshal(body, &st); err != nil || st.Code <= 0 || st.Code > int(connect.CodeUnauthenticated) {
		code := codeForStatus(status)
		out = connectErrorBody{Code: code.String(), Message: strings.TrimSpace(string(body))}
		if err == nil {
			out.Message = st.Message
		}
		b, _ := json.Marshal(out)
		return b, status
	}
	code := connect.Code(st.Code)
	out = connectErrorBody{Code: code.String(), Message: st.Message}
	for _, raw := range st.Details {
		var a anypb.Any
		if err := protojson.Unmarshal(raw, &a); err != nil {
			continue // a detail whose type this binary does not know
		}
		out.Details = append(out.Details, connectErrorDetail{
			Type:  strings.TrimPrefix(a.GetTypeUrl(), "type.googleapis.com/"),
			Value: base64.RawStdEncoding.EncodeToString(a.GetValue()),
		})
	}
	b, _ := json.Marshal(out)
	return b, connectHTTPStatus(code)
}

// connectHTTPStatus is the Connect protocol's HTTP status for a code: the
// one table the edge answers with, on REST, plain-HTTP and unknown routes.
func connectHTTPStatus(code connect.Code) int {
	switch code {
	case connect.CodeCanceled:
		return 499
	case connect.CodeInvalidArgument, connect.CodeOutOfRange:
		return http.StatusBadRequest
	case connect.CodeDeadlineExceeded:
		return http.StatusGatewayTimeout
	case connect.CodeNotFound:
		return http.StatusNotFound
	case connect.CodeAlreadyExists, connect.CodeAborted:
		return http.StatusConflict
	case connect.CodePermissionDenied:
		return http.StatusForbidden
	case connect.CodeResourceExhausted:
		return http.StatusTooManyRequests
	case connect.CodeFailedPrecondition:
		return http.StatusPreconditionFailed
	case connect.CodeUnimplemented:
		return http.StatusNotImplemented
	case connect.CodeUnavailable:
		return http.StatusServiceUnavailable
	case connect.CodeUnauthenticated:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

func codeForStatus(status int) connect.Code {
	switch status {
	case http.StatusBadRequest:
		return connect.CodeInvalidArgument
	case http.StatusUnauthorized:
		return connect.CodeUnauthenticated
	case http.StatusForbidden:
		return connect.CodePermissionDenied
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return connect.CodeNotFound
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return connect.CodeResourceExhausted
	case http.StatusNotImplemented:
		return connect.CodeUnimplemented
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return connect.CodeUnavailable
	}
	return connect.CodeUnknown
}

// restRefuse answers a REST call the edge refuses before transcoding, with
// the CORS headers the browser needs to read the error.
func (e *Edge) restRefuse(w http.ResponseWriter, r *http.Request, err *connect.Error) {
	_ = e.cors(w, r)
	e.logger.InfoContext(r.Context(), "access", "method", r.Method, "path", r.URL.Path,
		"status", connectHTTPStatus(err.Code()), "ip", clientIP(r), "error", err.Message())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(connectHTTPStatus(err.Code()))
	_, _ = w.Write(marshalConnectError(err))
}

func marshalConnectError(err *connect.Error) []byte {
	b, _ := json.Marshal(connectErrorBody{Code: err.Code().String(), Message: err.Message()})
	return b
}

// serveOpenAPI answers the OpenAPI document, public and CORS-enabled.
func (e *Edge) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	if e.cors(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Content-Length", strconv.Itoa(len(e.openapi)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(e.openapi)
}

// bodyRoute is a REST route that takes a body, to check the body against
// the message it decodes into before vanguard sees it: vanguard v0.4.0
// answers a body of the wrong shape by dropping the connection.
type bodyRoute struct {
	method string
	segs   []string // literal segments; "" for a variable
	verb   string   // custom verb after ":" in the last segment
	msg    protoreflect.MessageType
}

func (e *Edge) bodyRoutes() []bodyRoute {
	var out []bodyRoute
	for _, m := range e.cat.Methods() {
		if m.HTTP == nil {
			continue
		}
		for _, rule := range append([]*annotations.HttpRule{m.HTTP}, m.HTTP.GetAdditionalBindings()...) {
			if rule.GetBody() == "" {
				continue
			}
			msg := m.Descriptor.Input()
			if rule.GetBody() != "*" {
				fd := msg.Fields().ByName(protoreflect.Name(rule.GetBody()))
				if fd == nil || fd.Message() == nil || fd.IsList() || fd.IsMap() {
					continue
				}
				msg = fd.Message()
			}
			method, tmpl := ruleMethod(rule)
			if method == "" {
				continue
			}
			segs, verb := splitTemplate(tmpl)
			out = append(out, bodyRoute{method: method, segs: segs, verb: verb, msg: messageType(msg)})
		}
	}
	return out
}

func ruleMethod(r *annotations.HttpRule) (string, string) {
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Post:
		return http.MethodPost, p.Post
	case *annotations.HttpRule_Put:
		return http.MethodPut, p.Put
	case *annotations.HttpRule_Patch:
		return http.MethodPatch, p.Patch
	case *annotations.HttpRule_Delete:
		return http.MethodDelete, p.Delete
	case *annotations.HttpRule_Get:
		return http.MethodGet, p.Get
	}
	return "", ""
}

// splitTemplate splits "/v1/uploads/{upload_id}:cancel" into segments
// (variables as "") and the custom verb.
func splitTemplate(tmpl string) ([]string, string) {
	var verb string
	if i := strings.LastIndex(tmpl, ":"); i > strings.LastIndex(tmpl, "}") && i > strings.LastIndex(tmpl, "/") {
		tmpl, verb = tmpl[:i], tmpl[i+1:]
	}
	segs := strings.Split(strings.TrimPrefix(tmpl, "/"), "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") {
			segs[i] = ""
		}
	}
	return segs, verb
}

// messageType is md's generated type when this binary links it (it
// decodes several times faster than dynamicpb), else a dynamic one.
func messageType(md protoreflect.MessageDescriptor) protoreflect.MessageType {
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName()); err == nil && mt.Descriptor() == md {
		return mt
	}
	return dynamicpb.NewMessageType(md)
}

// bodyMessage returns the message a REST request's body decodes into, nil
// when no body route matches (vanguard then answers).
func (e *Edge) bodyMessage(r *http.Request) protoreflect.MessageType {
	path := r.URL.Path
	var verb string
	if i := strings.LastIndex(path, ":"); i > strings.LastIndex(path, "/") {
		path, verb = path[:i], path[i+1:]
	}
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for _, br := range e.bodies {
		if br.method != r.Method || br.verb != verb || len(br.segs) != len(segs) {
			continue
		}
		ok := true
		for i, s := range br.segs {
			if (s == "" && segs[i] == "") || (s != "" && s != segs[i]) {
				ok = false
				break
			}
		}
		if ok {
			return br.msg
		}
	}
	return nil
}
