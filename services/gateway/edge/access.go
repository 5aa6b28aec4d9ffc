package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1/gatewayv1connect"
	optionsv1 "github.com/streamgate/streamgate/gen/go/streamgate/options/v1"
	"github.com/streamgate/streamgate/internal/authtoken"
	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/internal/identity"
)

// caller is who the edge verified a request to come from.
type caller struct {
	address  string // EIP-55; from a session token, or the dev header in dev mode
	session  string // session id; empty for the dev header
	dev      bool   // address came from identity.DevAddressHeader
	operator bool   // an operator credential was presented
	opName   string // the name of the operator credential presented
	token    bool   // an Authorization header was present
}

func (c caller) String() string {
	switch {
	case c.operator:
		return "operator:" + c.opName
	case c.address != "" && c.dev:
		return "dev:" + c.address
	case c.address != "":
		return c.address
	}
	return "anonymous"
}

// requestState is what the access log and the proxy's error handler learn
// about a request as it passes.
type requestState struct {
	caller   caller
	tooLarge atomic.Bool
	bytesIn  atomic.Int64
}

type stateKey struct{}

func stateOf(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	return st
}

// handle is the edge's pipeline after admission (admit: the client, its
// rate limit and the concurrency caps): CORS, identity header stripping,
// the route and its access class, the caller's credential, the
// per-identity limit and the body limit; then the proxy (local nil) or
// local.
func (e *Edge) handle(w http.ResponseWriter, r *http.Request, local http.Handler) {
	start := time.Now()
	st := &requestState{}
	rec := &recorder{ResponseWriter: w}
	defer func() { e.logAccess(r, rec, st, time.Since(start)) }()

	if e.cors(rec, r) {
		return
	}

	// Only the gateway vouches for a caller: work on a copy of the
	// request whose identity headers are only those set below.
	r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
	r.Header = r.Header.Clone()
	for _, h := range identity.TrustedHeaders {
		r.Header.Del(h)
	}
	if !e.cfg.DevMode {
		r.Header.Del(identity.DevAddressHeader)
	}

	target, access, lenient, limitBody, err := e.route(r, local != nil)
	if err != nil {
		e.writeError(rec, r, err)
		return
	}

	c, err := e.authenticate(r, access, lenient)
	st.caller = c
	if err != nil {
		e.writeError(rec, r, err)
		return
	}
	if err := authorize(access, c); err != nil {
		e.writeError(rec, r, err)
		return
	}
	if c.address != "" && !c.operator {
		if ok, wait := e.perID.allow(strings.ToLower(c.address)); !ok {
			e.refuseRate(rec, r, wait, "too many requests for this wallet")
			return
		}
	}

	limit := int64(-1)
	if limitBody {
		limit = e.cfg.MaxRequestBytes
		if r.ContentLength > limit {
			e.writeError(rec, r, connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("request body exceeds %d bytes", limit)))
			return
		}
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &countingBody{ReadCloser: r.Body, st: st, limit: limit}
	}

	if c.operator {
		r.Header.Set(identity.OperatorHeader, "true")
	}
	if c.address != "" && !c.dev {
		r.Header.Set(identity.AddressHeader, c.address)
		r.Header.Set(identity.SessionHeader, c.session)
	}
	if local != nil {
		local.ServeHTTP(rec, r)
		return
	}
	e.proxy.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), targetKey{}, target)))
}

// sessionAccess is what the plain-HTTP routes that need a caller (tus)
// require.
const sessionAccess = optionsv1.Access_ACCESS_SESSION

// route resolves the request to the service that serves it and the access
// it requires. lenient is set for the gateway's own RPCs: ListRoutes only
// hides internal routes from a caller with a bad credential, it does not
// refuse them. limitBody is set for RPCs.
func (e *Edge) route(r *http.Request, local bool) (target string, access optionsv1.Access, lenient, limitBody bool, err *connect.Error) {
	if !local {
		for _, rt := range httpRoutes {
			if strings.HasPrefix(r.URL.Path, rt.prefix) {
				access = optionsv1.Access_ACCESS_PUBLIC
				if rt.session {
					access = sessionAccess
				}
				return rt.service, access, false, false, nil
			}
		}
	}
	svc, _, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	short, known := e.services[svc]
	if !ok || !known {
		return "", 0, false, false, connect.NewError(connect.CodeNotFound, fmt.Errorf("no route for %s", r.URL.Path))
	}
	m, found := e.cat.Lookup(r.URL.Path)
	if !found {
		return "", 0, false, false, connect.NewError(connect.CodeUnimplemented, fmt.Errorf("%s has no method %s", svc, strings.TrimPrefix(r.URL.Path, "/"+svc+"/")))
	}
	access = m.EffectiveAccess()
	// Internal RPCs do not exist from outside: the same answer as an
	// unknown route, before any credential is looked at. Client and bidi
	// streams are not routed either (the contract declares none public).
	if access == optionsv1.Access_ACCESS_INTERNAL || m.StreamType == catalog.ClientStream || m.StreamType == catalog.BidiStream {
		return "", 0, false, false, connect.NewError(connect.CodeNotFound, fmt.Errorf("no route for %s", r.URL.Path))
	}
	lenient = string(m.Service) == gatewayv1connect.GatewayServiceName
	return short, access, lenient, true, nil
}

var errNeedSession = errors.New("sign in first: this call needs a session (Authorization: Bearer <session token>)")

// authenticate reads the caller's credential: "Authorization: Bearer
// <token>", where the token is the operator credential or a session token,
// and in dev mode the dev identity header. A credential that is present
// but fails is refused (Unauthenticated) rather than ignored, unless
// lenient, and so is the token of a session auth has revoked
// (RevokeSession); keys that cannot be fetched answer Unavailable. For an operator
// RPC, a bearer that is not the operator credential is not checked as a
// session.
func (e *Edge) authenticate(r *http.Request, access optionsv1.Access, lenient bool) (caller, *connect.Error) {
	var c caller
	if authz := r.Header.Get("Authorization"); authz != "" {
		c.token = true
		scheme, token, _ := strings.Cut(authz, " ")
		token = strings.TrimSpace(token)
		switch {
		case !strings.EqualFold(scheme, "Bearer") || token == "":
			if !lenient {
				return c, connect.NewError(connect.CodeUnauthenticated, errors.New(`the Authorization header must be "Bearer <token>"`))
			}
		case e.isOperator(token, &c):
		case access == optionsv1.Access_ACCESS_OPERATOR:
			// Not the operator credential, and no session could satisfy
			// an operator RPC: authorize answers PermissionDenied.
		case e.verifier == nil:
			if !lenient {
				return c, connect.NewError(connect.CodeUnavailable, errors.New("session tokens cannot be checked right now"))
			}
		default:
			claims, err := e.verifier.VerifySession(r.Context(), token)
			if err == nil && e.revoked.has(claims.SessionID) {
				err = errSessionRevoked
			}
			switch {
			case err == nil:
				c.address, c.session = claims.Address(), claims.SessionID
			case lenient:
			case errors.Is(err, errSessionRevoked):
				return c, connect.NewError(connect.CodeUnauthenticated, err)
			case errors.Is(err, authtoken.ErrKeysUnavailable):
				e.logger.WarnContext(r.Context(), "session check unavailable", "error", err)
				return c, connect.NewError(connect.CodeUnavailable, errors.New("session tokens cannot be checked right now; retry shortly"))
			default:
				return c, connect.NewError(connect.CodeUnauthenticated, errors.New("the session token is invalid or expired; sign in again"))
			}
		}
	}
	if dev := r.Header.Get(identity.DevAddressHeader); dev != "" && e.cfg.DevMode && c.address == "" {
		addr, err := identity.NormalizeAddress(dev)
		if err != nil {
			return c, connect.NewError(connect.CodeUnauthenticated, fmt.Errorf("%s: %v", identity.DevAddressHeader, err))
		}
		c.address, c.dev = addr, true
	}
	return c, nil
}

// isOperator reports whether token is one of the operator credentials
// (every one compared in constant time), recording its name in c.
func (e *Edge) isOperator(token string, c *caller) bool {
	if e.cfg.Operators == nil {
		return false
	}
	name, ok := e.cfg.Operators.Match(token)
	if ok {
		c.operator, c.opName = true, name
	}
	return ok
}

// authorize applies the access class to the verified caller.
func authorize(access optionsv1.Access, c caller) *connect.Error {
	switch access {
	case optionsv1.Access_ACCESS_PUBLIC:
		return nil
	case optionsv1.Access_ACCESS_SESSION:
		if c.address == "" {
			return connect.NewError(connect.CodeUnauthenticated, errNeedSession)
		}
		return nil
	case optionsv1.Access_ACCESS_OPERATOR:
		switch {
		case c.operator:
			return nil
		case !c.token:
			return connect.NewError(connect.CodeUnauthenticated, errors.New("this call needs the operator credential (Authorization: Bearer <operator token>)"))
		default:
			return connect.NewError(connect.CodePermissionDenied, errors.New("this call is reserved to the operator"))
		}
	}
	return connect.NewError(connect.CodeNotFound, errors.New("no such route"))
}

func (e *Edge) refuseRate(w http.ResponseWriter, r *http.Request, wait time.Duration, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
	e.writeError(w, r, connect.NewError(connect.CodeResourceExhausted, errors.New(msg+"; retry after the Retry-After delay")))
}

// countingBody counts the request bytes and, with a limit, stops the body
// past it; the proxy's error handler then answers ResourceExhausted.
type countingBody struct {
	io.ReadCloser
	st    *requestState
	limit int64
	n     int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.limit >= 0 && b.n >= b.limit+1 {
		b.st.tooLarge.Store(true)
		return 0, errBodyTooLarge
	}
	if b.limit >= 0 && int64(len(p)) > b.limit+1-b.n {
		p = p[:b.limit+1-b.n]
	}
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	b.st.bytesIn.Add(int64(n))
	if b.limit >= 0 && b.n > b.limit {
		b.st.tooLarge.Store(true)
		return n, errBodyTooLarge
	}
	return n, err
}

var errBodyTooLarge = errors.New("request body too large")
