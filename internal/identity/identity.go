// Package identity carries who is calling from the edge to the services.
//
// The gateway verifies the caller (a session token, or the operator
// credential) and forwards the result in trusted headers; it strips those
// headers from every incoming request first, so only the gateway can set
// them. Services read the caller from the context, filled by the server
// interceptor from those headers, which count only when the gateway sent
// them: over mutual TLS the peer's certificate says who that is (see
// fromPeer). `streamgate dev` lets a dev identity header stand in for a
// session; it is refused outside dev mode.
package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"github.com/ethereum/go-ethereum/common"

	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/internal/meshtls"
)

const (
	// AddressHeader carries the verified wallet address (EIP-55), set by
	// the gateway after it checked the session token.
	AddressHeader = "Streamgate-Caller-Address"
	// SessionHeader carries the verified session id.
	SessionHeader = "Streamgate-Caller-Session"
	// OperatorHeader is "true" when the gateway verified the operator
	// credential.
	OperatorHeader = "Streamgate-Caller-Operator"
	// DevAddressHeader lets a client name its wallet without signing in;
	// honored only in dev mode.
	DevAddressHeader = "Streamgate-Dev-Address"
)

// TrustedHeaders are the headers the gateway strips from incoming requests
// before setting its own.
var TrustedHeaders = []string{AddressHeader, SessionHeader, OperatorHeader}

// Caller is who made a request.
type Caller struct {
	// Address is the signed-in wallet, EIP-55 checksummed; empty when
	// anonymous.
	Address string
	// SessionID is the session the caller signed in with; empty for a dev
	// identity or an anonymous caller.
	SessionID string
	// Operator is true for the operator credential.
	Operator bool
	// Service is the calling service as its mesh certificate names it;
	// empty on a cleartext mesh or at the edge.
	Service string
}

// Authenticated reports whether the caller is a signed-in wallet.
func (c Caller) Authenticated() bool { return c.Address != "" }

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// FromContext returns the caller, anonymous when none was set.
func FromContext(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// ErrUnauthenticated is returned by Require for an anonymous caller.
var ErrUnauthenticated = errors.New("sign in first: this call needs a session")

// Require returns the signed-in caller, or an Unauthenticated error.
func Require(ctx context.Context) (Caller, error) {
	c := FromContext(ctx)
	if !c.Authenticated() {
		return Caller{}, connect.NewError(connect.CodeUnauthenticated, ErrUnauthenticated)
	}
	return c, nil
}

// FromHeaders reads the caller the gateway forwarded. With devMode, a
// DevAddressHeader stands in for a session when no verified address is
// present; without it the dev header is an error, so a misconfigured
// production deployment cannot be entered by naming an address.
func FromHeaders(h http.Header, devMode bool) (Caller, error) {
	c := Caller{
		Address:   h.Get(AddressHeader),
		SessionID: h.Get(SessionHeader),
		Operator:  h.Get(OperatorHeader) == "true",
	}
	if dev := h.Get(DevAddressHeader); dev != "" {
		if !devMode {
			return Caller{}, connect.NewError(connect.CodeUnauthenticated, errors.New("the dev identity header is accepted only in dev mode"))
		}
		if c.Address == "" {
			c.Address = dev
		}
	}
	if c.Address != "" {
		addr, err := NormalizeAddress(c.Address)
		if err != nil {
			return Caller{}, connect.NewError(connect.CodeUnauthenticated, err)
		}
		c.Address = addr
	}
	return c, nil
}

// NormalizeAddress validates a 0x-prefixed 20-byte hex address and returns
// its EIP-55 form. Mixed case must already be a valid checksum; all-lower
// or all-upper hex is accepted.
func NormalizeAddress(s string) (string, error) {
	if !common.IsHexAddress(s) || !strings.HasPrefix(s, "0x") {
		return "", errors.New("not a 0x-prefixed 20-byte hex address")
	}
	addr := common.HexToAddress(s)
	body := s[2:]
	if body != strings.ToLower(body) && body != strings.ToUpper(body) && addr.Hex() != s {
		return "", errors.New("address has an invalid EIP-55 checksum")
	}
	return addr.Hex(), nil
}

// NewInterceptor puts the caller from the request headers into the handler
// context, for unary and streaming calls.
func NewInterceptor(devMode bool) connect.Interceptor {
	return &interceptor{devMode: devMode}
}

type interceptor struct{ devMode bool }

func (i *interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		c, err := fromPeer(ctx, req.Spec().Procedure, req.Header(), i.devMode)
		if err != nil {
			return nil, err
		}
		return next(WithCaller(ctx, c), req)
	}
}

// Gateway is the service whose word on users and operators counts.
const Gateway = "gateway"

// fromPeer is the caller of a request that reached a service's mesh port.
// Over mutual TLS the peer is the service its certificate names: only the
// gateway vouches for users (the wallet, session and operator headers of
// any other peer are ignored, so the call runs as that service alone), and
// an internal RPC answers only the services its contract lists. Over a
// cleartext mesh (--insecure-mesh) no peer is known and the headers are
// believed, as they must be there.
func fromPeer(ctx context.Context, procedure string, h http.Header, devMode bool) (Caller, error) {
	peer, tls := meshtls.PeerServiceFromContext(ctx)
	if !tls {
		return FromHeaders(h, devMode)
	}
	if m, ok := catalog.Default().Lookup(procedure); ok && !m.MayCall(peer) {
		return Caller{}, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%s is not among the services that may call %s", peer, procedure))
	}
	if peer != Gateway {
		return Caller{Service: peer}, nil
	}
	c, err := FromHeaders(h, devMode)
	c.Service = peer
	return c, err
}

func (i *interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i *interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		c, err := fromPeer(ctx, conn.Spec().Procedure, conn.RequestHeader(), i.devMode)
		if err != nil {
			return err
		}
		return next(WithCaller(ctx, c), conn)
	}
}

// HTTPMiddleware does the same for plain HTTP routes (tus, media).
func HTTPMiddleware(devMode bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := fromPeer(r.Context(), "", r.Header, devMode)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), c)))
	})
}
