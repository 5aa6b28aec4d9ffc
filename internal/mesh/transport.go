package mesh

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"connectrpc.com/connect"
	"github.com/sony/gobreaker/v2"

	"github.com/streamgate/streamgate/internal/registry"
)

// ErrNoEndpoints is returned, wrapped in a CodeUnavailable *connect.Error, by
// the transport when a service has no registered instance.
var ErrNoEndpoints = errors.New("mesh: no endpoints")

var (
	// errFailedResponse is what the breaker is told about a response that
	// means the endpoint is unhealthy (502-504, gRPC Unavailable).
	errFailedResponse = errors.New("mesh: endpoint answered unavailable")
	// errCallerGone marks outcomes caused by the caller's own cancellation
	// or deadline: they say nothing about the endpoint.
	errCallerGone = errors.New("mesh: caller gave up")
)

// endpoint is one instance of a service with its breaker and load.
type endpoint struct {
	service, id, addr string
	breaker           *gobreaker.TwoStepCircuitBreaker[struct{}]
	inflight          atomic.Int64
	lastFailure       atomic.Int64 // unix nanoseconds; 0 if never failed
	requests          atomic.Uint64
	failures          atomic.Uint64
}

// finish records the outcome of one request on ep; report is the breaker's
// callback, nil when the request bypassed the breaker.
func (ep *endpoint) finish(report func(error), outcome error) {
	if outcome != nil && !errors.Is(outcome, errCallerGone) {
		ep.failures.Add(1)
		ep.lastFailure.Store(time.Now().UnixNano())
	}
	if report != nil {
		report(outcome)
	}
}

// EndpointStatus is a snapshot of one endpoint.
type EndpointStatus struct {
	Service, ID, Address string
	// State is the breaker state: "closed", "half-open" or "open".
	State    string
	InFlight int64
	// Requests and Failures count attempts since the endpoint appeared;
	// failures are connection errors and 502/503/504 or gRPC Unavailable.
	Requests, Failures uint64
}

// transport resolves "http://<service>/..." to an instance per request.
type transport struct {
	// h2c is the pool of cleartext connections; with TLS, each service
	// has a pool of its own (bases), whose connections were verified to
	// reach that service, so none is ever reused to call another.
	h2c    *http.Transport
	bases  sync.Map // service -> *tlsBase
	opts   Options
	logger *slog.Logger
	dialer *net.Dialer

	updateMu  sync.Mutex // serializes update
	endpoints atomic.Pointer[map[string][]*endpoint]
}

// tlsBase is one service's pool, or nil for a service called over h2c.
type tlsBase struct{ rt *http.Transport }

func newTransport(opts Options, logger *slog.Logger) *transport {
	t := &transport{
		opts:   opts,
		logger: logger,
		dialer: &net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second},
	}
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	t.h2c = t.newBase(protocols, nil)
	empty := map[string][]*endpoint{}
	t.endpoints.Store(&empty)
	return t
}

func (t *transport) newBase(protocols *http.Protocols, tlsConfig *tls.Config) *http.Transport {
	rt := &http.Transport{
		Protocols:       protocols,
		DialContext:     t.dialer.DialContext,
		IdleConnTimeout: 90 * time.Second,
		// Pings find a connection to a host that vanished without a FIN
		// (power loss, partition) long before TCP would.
		HTTP2: &http.HTTP2Config{SendPingTimeout: 15 * time.Second, PingTimeout: 5 * time.Second},
		// No Proxy: mesh traffic never goes through HTTP_PROXY.
	}
	if tlsConfig != nil {
		rt.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return t.dialTLS(ctx, network, addr, tlsConfig)
		}
	}
	return rt
}

// dialTLS connects and completes the handshake, within the dial timeout.
// A failed handshake (the instance is not the service it registered as,
// or its certificate is not from the mesh CA) is reported as a dial error:
// nothing was sent, so RoundTrip moves the call to another instance.
func (t *transport) dialTLS(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, t.opts.DialTimeout)
	defer cancel()
	raw, err := t.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raw.RemoteAddr(), Err: fmt.Errorf("TLS handshake: %w", err)}
	}
	return conn, nil
}

// base is the pool to reach service with, and the URL scheme to use.
func (t *transport) base(service string) (*http.Transport, string) {
	if t.opts.TLS == nil {
		return t.h2c, "http"
	}
	if b, ok := t.bases.Load(service); ok {
		return b.(*tlsBase).pick(t.h2c)
	}
	b := &tlsBase{}
	if cfg := t.opts.TLS.ClientConfig(service); cfg != nil {
		protocols := new(http.Protocols)
		protocols.SetHTTP2(true)
		b.rt = t.newBase(protocols, cfg)
	}
	actual, _ := t.bases.LoadOrStore(service, b)
	return actual.(*tlsBase).pick(t.h2c)
}

func (b *tlsBase) pick(h2c *http.Transport) (*http.Transport, string) {
	if b.rt == nil {
		return h2c, "http"
	}
	return b.rt, "https"
}

func (t *transport) newEndpoint(in registry.Instance) *endpoint {
	ep := &endpoint{service: in.Service, id: in.ID, addr: in.Address}
	ep.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:    in.Service + "/" + in.ID,
		Timeout: t.opts.BreakerOpen,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= t.opts.BreakerFailures
		},
		IsExcluded: func(err error) bool { return errors.Is(err, errCallerGone) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			t.logger.Info("endpoint breaker", "endpoint", name, "address", ep.addr, "from", from.String(), "to", to.String())
		},
	})
	return ep
}

// update replaces the endpoint sets with the watcher's instances, keeping
// the breaker and load of instances that stay.
func (t *transport) update(instances []registry.Instance) {
	t.updateMu.Lock()
	defer t.updateMu.Unlock()
	old := *t.endpoints.Load()
	byKey := map[string]*endpoint{}
	for _, eps := range old {
		for _, ep := range eps {
			byKey[ep.service+"/"+ep.id+"@"+ep.addr] = ep
		}
	}
	next := map[string][]*endpoint{}
	for _, in := range instances {
		if in.Address == "" {
			continue
		}
		ep, ok := byKey[in.Service+"/"+in.ID+"@"+in.Address]
		if !ok {
			ep = t.newEndpoint(in)
			t.logger.Debug("endpoint added", "service", in.Service, "instance", in.ID, "address", in.Address)
		}
		next[in.Service] = append(next[in.Service], ep)
	}
	t.endpoints.Store(&next)
}

func (t *transport) lookup(service string) []*endpoint { return (*t.endpoints.Load())[service] }

func (t *transport) status(service string) []EndpointStatus {
	eps := t.lookup(service)
	out := make([]EndpointStatus, 0, len(eps))
	for _, ep := range eps {
		out = append(out, EndpointStatus{
			Service:  ep.service,
			ID:       ep.id,
			Address:  ep.addr,
			State:    ep.breaker.State().String(),
			InFlight: ep.inflight.Load(),
			Requests: ep.requests.Load(),
			Failures: ep.failures.Load(),
		})
	}
	slices.SortFunc(out, func(a, b EndpointStatus) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the pools.
func (t *transport) CloseIdleConnections() {
	t.h2c.CloseIdleConnections()
	t.bases.Range(func(_, b any) bool {
		if rt := b.(*tlsBase).rt; rt != nil {
			rt.CloseIdleConnections()
		}
		return true
	})
}

// RoundTrip sends req to one instance of the service named by
// req.URL.Host. When the connection to the chosen instance cannot be made,
// nothing was sent, so it tries another instance whatever the method. Any
// other error is returned, not retried: the request may have reached the
// instance, and retrying is the retry interceptor's job, for idempotent RPCs
// only. Errors that mean "no instance could take it" are CodeUnavailable
// *connect.Errors.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	service := req.URL.Hostname()
	eps := t.lookup(service)
	if len(eps) == 0 {
		closeBody(req)
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("%w for service %q", ErrNoEndpoints, service))
	}
	base, scheme := t.base(service)
	ctx := req.Context()
	prior := attemptsFrom(ctx)
	body := newReplayBody(req.Body)
	defer body.release()

	var triedBuf [4]*endpoint
	tried := triedBuf[:0]
	var lastErr error
	for {
		ep, report := t.pick(eps, tried, prior)
		if ep == nil {
			return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("mesh: no endpoint of %q accepted a connection: %w", service, lastErr))
		}
		tried = append(tried, ep)
		prior.add(ep)
		body.rearm()

		ep.requests.Add(1)
		ep.inflight.Add(1)
		resp, err := base.RoundTrip(outgoing(req, scheme, ep.addr, body))
		if err != nil {
			ep.inflight.Add(-1)
			if ctx.Err() != nil {
				ep.finish(report, errCallerGone)
				return nil, err
			}
			ep.finish(report, err)
			if isDialError(err) && body.replayable() {
				t.logger.Debug("endpoint refused connection; trying another", "service", service, "instance", ep.id, "address", ep.addr, "err", err)
				lastErr = err
				continue
			}
			return nil, connectionLost(err)
		}

		tb := &trackedBody{rc: resp.Body, resp: resp, ep: ep}
		switch outcome, final := classify(resp); {
		case final && outcome != nil && ctx.Err() != nil:
			// A 504 for a caller whose deadline has passed says more about
			// the deadline than about the endpoint.
			ep.finish(report, errCallerGone)
		case final:
			ep.finish(report, outcome)
		default:
			// A gRPC response carries its status in trailers: judge it
			// when the body ends.
			tb.report = report
		}
		resp.Body = tb
		resp.Request = req
		return resp, nil
	}
}

// pick chooses an endpoint not yet tried by this request: power of two
// choices on in-flight requests among those whose breaker admits the
// request, preferring ones earlier attempts of the same call did not use.
// If no breaker admits it, it returns the endpoint that failed longest ago
// without a breaker callback: trying beats failing every call while all
// instances are marked bad.
func (t *transport) pick(eps, tried []*endpoint, prior *attemptLog) (*endpoint, func(error)) {
	var buf [16]*endpoint
	cands := buf[:0]
	for _, ep := range eps {
		if !slices.Contains(tried, ep) && ep.breaker.State() != gobreaker.StateOpen {
			cands = append(cands, ep)
		}
	}
	cands = prior.prefer(cands)
	for len(cands) > 0 {
		i := twoChoices(cands)
		ep := cands[i]
		if report, err := ep.breaker.Allow(); err == nil {
			return ep, report
		}
		cands[i] = cands[len(cands)-1]
		cands = cands[:len(cands)-1]
	}
	var best *endpoint
	for _, ep := range eps {
		if !slices.Contains(tried, ep) && (best == nil || ep.lastFailure.Load() < best.lastFailure.Load()) {
			best = ep
		}
	}
	return best, nil
}

// twoChoices returns the index of the less loaded of two random candidates.
func twoChoices(cands []*endpoint) int {
	if len(cands) == 1 {
		return 0
	}
	i := rand.IntN(len(cands))
	j := rand.IntN(len(cands) - 1)
	if j >= i {
		j++
	}
	if cands[j].inflight.Load() < cands[i].inflight.Load() {
		return j
	}
	return i
}

// classify reports whether a response counts as an endpoint failure, and
// whether that is known from the headers. Only "this instance cannot serve"
// answers count: 502, 503, 504 and gRPC Unavailable. Other 5xx (Connect
// Internal, Unimplemented) and 4xx are answers from a live instance, often
// caused by the request itself; counting them would let one bad request open
// every instance's breaker.
func classify(resp *http.Response) (outcome error, final bool) {
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return errFailedResponse, true
	}
	if status := resp.Header.Get("Grpc-Status"); status != "" {
		return grpcOutcome(status), true
	}
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/grpc") {
		return nil, false
	}
	return nil, true
}

func grpcOutcome(status string) error {
	if status == "14" { // UNAVAILABLE
		return errFailedResponse
	}
	return nil
}

// connectionLost makes a connection reset or broken pipe, with the caller's
// context still alive, surface as CodeUnavailable: connect-go maps EPIPE and
// ECONNRESET to CodeCanceled (right for a server whose client left), which
// would hide an instance that died mid-call from the retry interceptor.
func connectionLost(err error) error {
	if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
		return connect.NewError(connect.CodeUnavailable, err)
	}
	return err
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// directTransport sends requests to the address they name, as a caller of
// one service.
type directTransport struct {
	t       *transport
	service string
}

func (d directTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base, scheme := d.t.base(d.service)
	resp, err := base.RoundTrip(outgoing(req, scheme, req.URL.Host, nil))
	if resp != nil {
		resp.Request = req
	}
	return resp, err
}

// outgoing is req aimed at addr, with body in place of req.Body.
func outgoing(req *http.Request, scheme, addr string, body *replayBody) *http.Request {
	out := new(http.Request)
	*out = *req
	u := *req.URL
	u.Scheme = scheme
	u.Host = addr
	out.URL = &u
	if body != nil {
		out.Body = body
	}
	return out
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
