package gateway

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	gatewayv1 "github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1/gatewayv1connect"
	optionsv1 "github.com/streamgate/streamgate/gen/go/streamgate/options/v1"
	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/rpcerr"
)

// handler adapts Service to the generated interface.
type handler struct {
	gatewayv1connect.UnimplementedGatewayServiceHandler
	svc *Service
}

func (h *handler) GetClientConfig(context.Context, *connect.Request[gatewayv1.GetClientConfigRequest]) (*connect.Response[gatewayv1.GetClientConfigResponse], error) {
	return connect.NewResponse(proto.CloneOf(h.svc.config)), nil
}

func (h *handler) ListRoutes(ctx context.Context, req *connect.Request[gatewayv1.ListRoutesRequest]) (*connect.Response[gatewayv1.ListRoutesResponse], error) {
	// The edge sets the operator header only after verifying the
	// credential, and strips it from every incoming request.
	operator := identity.FromContext(ctx).Operator
	routes, next, err := h.svc.ListRoutes(req.Msg.GetService(), req.Msg.GetPageSize(), req.Msg.GetPageToken(), operator)
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	return connect.NewResponse(&gatewayv1.ListRoutesResponse{Routes: routes, NextPageToken: next}), nil
}

const (
	defaultPageSize = 100
	maxPageSize     = 500
)

// ListRoutes returns one page of the route table, ordered by procedure:
// every RPC of service (all when empty), internal ones only for operators.
func (s *Service) ListRoutes(service string, pageSize int32, pageToken string, operator bool) ([]*gatewayv1.Route, string, error) {
	switch {
	case pageSize < 0:
		return nil, "", fmt.Errorf("%w: page_size must not be negative", ErrInvalidArgument)
	case pageSize == 0:
		pageSize = defaultPageSize
	case pageSize > maxPageSize:
		pageSize = maxPageSize
	}
	after := ""
	if pageToken != "" {
		var err error
		if after, err = decodePageToken(pageToken, service, operator); err != nil {
			return nil, "", err
		}
	}
	methods := s.cat.Methods() // ordered by procedure
	start := sort.Search(len(methods), func(i int) bool { return methods[i].Procedure > after })
	var out []*gatewayv1.Route
	counts := map[string]int{}
	for _, m := range methods[start:] {
		if service != "" && string(m.Service) != service {
			continue
		}
		if m.EffectiveAccess() == optionsv1.Access_ACCESS_INTERNAL && !operator {
			continue
		}
		if len(out) == int(pageSize) {
			return out, encodePageToken(service, operator, out[len(out)-1].GetProcedure()), nil
		}
		out = append(out, s.route(m, counts))
	}
	return out, "", nil
}

// route describes m; counts caches instance counts per service for a page.
func (s *Service) route(m catalog.Method, counts map[string]int) *gatewayv1.Route {
	short := shortName(string(m.Service))
	n, ok := counts[short]
	if !ok {
		n = len(s.instances.Instances(short))
		if string(m.Service) == gatewayv1connect.GatewayServiceName {
			n = max(n, 1) // this instance answers, registered yet or not
		}
		counts[short] = n
	}
	r := &gatewayv1.Route{
		Procedure:            m.Procedure,
		Service:              string(m.Service),
		Method:               string(m.Name),
		Access:               m.EffectiveAccess(),
		IdempotencyLevel:     idempotency(m.Idempotency),
		StreamKind:           gatewayv1.StreamKind_STREAM_KIND_UNARY,
		Available:            n > 0,
		HealthyInstanceCount: uint32(n),
	}
	if m.StreamType == catalog.ServerStream {
		r.StreamKind = gatewayv1.StreamKind_STREAM_KIND_SERVER_STREAMING
	}
	if m.HTTP != nil && m.StreamType == catalog.Unary {
		r.RestBindings = append(r.RestBindings, restBinding(m.HTTP))
		for _, b := range m.HTTP.GetAdditionalBindings() {
			r.RestBindings = append(r.RestBindings, restBinding(b))
		}
	}
	return r
}

func shortName(service string) string {
	parts := strings.Split(service, ".")
	if len(parts) >= 2 && parts[0] == "streamgate" {
		return parts[1]
	}
	return ""
}

func idempotency(l descriptorpb.MethodOptions_IdempotencyLevel) gatewayv1.IdempotencyLevel {
	switch l {
	case descriptorpb.MethodOptions_NO_SIDE_EFFECTS:
		return gatewayv1.IdempotencyLevel_IDEMPOTENCY_LEVEL_NO_SIDE_EFFECTS
	case descriptorpb.MethodOptions_IDEMPOTENT:
		return gatewayv1.IdempotencyLevel_IDEMPOTENCY_LEVEL_IDEMPOTENT
	}
	return gatewayv1.IdempotencyLevel_IDEMPOTENCY_LEVEL_SIDE_EFFECTS
}

func restBinding(r *annotations.HttpRule) *gatewayv1.RestBinding {
	b := &gatewayv1.RestBinding{Body: r.GetBody()}
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		b.Method, b.PathTemplate = "GET", p.Get
	case *annotations.HttpRule_Post:
		b.Method, b.PathTemplate = "POST", p.Post
	case *annotations.HttpRule_Put:
		b.Method, b.PathTemplate = "PUT", p.Put
	case *annotations.HttpRule_Patch:
		b.Method, b.PathTemplate = "PATCH", p.Patch
	case *annotations.HttpRule_Delete:
		b.Method, b.PathTemplate = "DELETE", p.Delete
	case *annotations.HttpRule_Custom:
		b.Method, b.PathTemplate = strings.ToUpper(p.Custom.GetKind()), p.Custom.GetPath()
	}
	return b
}

// A page token names the last procedure of the previous page and the
// filter and caller class it was issued for: "v1\x00<service>\x00<o|a>\x00
// <procedure>", base64url. It need not be secret or signed: the filter and
// class are taken from the request and only checked against it.
func encodePageToken(service string, operator bool, last string) string {
	class := "a"
	if operator {
		class = "o"
	}
	return base64.RawURLEncoding.EncodeToString([]byte(strings.Join([]string{"v1", service, class, last}, "\x00")))
}

func decodePageToken(tok, service string, operator bool) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", fmt.Errorf("%w: malformed page_token", ErrInvalidArgument)
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 4 || parts[0] != "v1" || !strings.HasPrefix(parts[3], "/") {
		return "", fmt.Errorf("%w: malformed page_token", ErrInvalidArgument)
	}
	class := "a"
	if operator {
		class = "o"
	}
	if parts[1] != service || parts[2] != class {
		return "", fmt.Errorf("%w: page_token was issued for another filter or caller class", ErrInvalidArgument)
	}
	return parts[3], nil
}
