// Package mesh is how StreamGate services call each other, and how the
// gateway reaches them. A request names a service, not a host
// ("http://upload/..."); the transport picks one of the service's instances
// from the registry watcher (power of two choices on in-flight requests),
// skips instances whose circuit breaker is open, and fails over when an
// instance refuses the connection. A client interceptor retries the calls
// the contract marks safe to repeat, within a retry budget so retries cannot
// multiply load during an outage, and carries the trace context.
package mesh

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/otelconnect"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/internal/registry"
)

// Options tunes a Client; the zero value gives the defaults.
type Options struct {
	// MaxAttempts is the total number of attempts of a retryable unary call
	// (1 disables retries); default 3.
	MaxAttempts int
	// RetryBudgetRatio is how many retries are allowed as a fraction of
	// calls over a 10 s window, as in Finagle's RetryBudget; default 0.2.
	// Negative means no ratio-based retries (MinRetries only).
	RetryBudgetRatio float64
	// MinRetries is the number of retries per second always allowed,
	// whatever the ratio, so a quiet client can still retry; default 10.
	// Negative means none.
	MinRetries int
	// BreakerFailures is the number of consecutive failures that open an
	// endpoint's breaker; default 5.
	BreakerFailures uint32
	// BreakerOpen is how long a breaker stays open before it lets one probe
	// request through (half-open); default 5s.
	BreakerOpen time.Duration
	// DialTimeout bounds connecting to an endpoint; default 2s.
	DialTimeout time.Duration
	// RetryBackoff is the base of the exponential backoff between attempts,
	// with full jitter; default 25ms.
	RetryBackoff time.Duration
	// RetryBackoffMax caps the backoff; default 1s.
	RetryBackoffMax time.Duration
	// TLS gives the client configuration for calling each service (the
	// mesh's mutual TLS: *meshtls.Source presents this process's
	// certificate and accepts only a server whose certificate names that
	// service). Nil, or a nil configuration for a service: HTTP/2
	// cleartext (h2c).
	TLS ClientTLS
	// TracerProvider, MeterProvider and Propagator feed the OpenTelemetry
	// interceptor; nil means the otel globals, which cmd/ sets up.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator
}

// ClientTLS is where the transport gets its TLS configurations; it asks
// once per service and keeps a pool of connections per service.
type ClientTLS interface {
	ClientConfig(service string) *tls.Config
}

func (o Options) withDefaults() Options {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	switch {
	case o.RetryBudgetRatio == 0:
		o.RetryBudgetRatio = 0.2
	case o.RetryBudgetRatio < 0:
		o.RetryBudgetRatio = 0
	}
	switch {
	case o.MinRetries == 0:
		o.MinRetries = 10
	case o.MinRetries < 0:
		o.MinRetries = 0
	}
	if o.BreakerFailures == 0 {
		o.BreakerFailures = 5
	}
	if o.BreakerOpen <= 0 {
		o.BreakerOpen = 5 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 2 * time.Second
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 25 * time.Millisecond
	}
	if o.RetryBackoffMax <= 0 {
		o.RetryBackoffMax = time.Second
	}
	return o
}

// Client holds the resolving transport, the breakers and the retry budget
// shared by every generated client built on it. Build one per process.
type Client struct {
	transport    *transport
	httpClient   *http.Client
	interceptors []connect.Interceptor

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New returns a Client resolving services through w, which the caller starts
// and closes. cat decides which RPCs are retried; nil means catalog.Default().
// The Client follows w's changes in a goroutine until Close.
func New(w *registry.Watcher, cat *catalog.Catalog, opts Options, logger *slog.Logger) *Client {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cat == nil {
		cat = catalog.Default()
	}
	opts = opts.withDefaults()
	t := newTransport(opts, logger)
	c := &Client{
		transport:  t,
		httpClient: &http.Client{Transport: t},
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}

	// Subscribe before the first read so no change falls in between.
	changes, unsubscribe := w.Changes()
	t.update(w.All())
	go func() {
		defer close(c.done)
		defer unsubscribe()
		for {
			select {
			case <-changes:
				t.update(w.All())
			case <-c.stop:
				return
			}
		}
	}()

	// The retry interceptor is outermost, so each attempt gets its own
	// client span, as in gRPC's per-attempt tracing.
	c.interceptors = append(c.interceptors, newRetryInterceptor(cat, opts, newRetryBudget(opts, time.Now), logger))
	var otelOpts []otelconnect.Option
	if opts.TracerProvider != nil {
		otelOpts = append(otelOpts, otelconnect.WithTracerProvider(opts.TracerProvider))
	}
	if opts.MeterProvider != nil {
		otelOpts = append(otelOpts, otelconnect.WithMeterProvider(opts.MeterProvider))
	}
	if opts.Propagator != nil {
		otelOpts = append(otelOpts, otelconnect.WithPropagator(opts.Propagator))
	}
	if otelInterceptor, err := otelconnect.NewInterceptor(otelOpts...); err != nil {
		// Only a broken MeterProvider gets here; calls still work untraced.
		logger.Error("mesh: OpenTelemetry interceptor unavailable; calls are not traced", "err", err)
	} else {
		c.interceptors = append(c.interceptors, otelInterceptor)
	}
	return c
}

// HTTPClient is the http.Client to give generated Connect clients, with
// BaseURL and ClientOptions:
//
//	uploadv1connect.NewUploadServiceClient(c.HTTPClient(), c.BaseURL("upload"), c.ClientOptions()...)
//
// It has no overall timeout: deadlines come from the call's context and
// travel to the server in the Connect/gRPC timeout header.
func (c *Client) HTTPClient() *http.Client { return c.httpClient }

// BaseURL is the base URL of a service: its host is the short service name,
// which the transport resolves to an instance per request.
func (c *Client) BaseURL(service string) string { return "http://" + service }

// ClientOptions are the options every generated client built on this Client
// takes: the retry interceptor (unary calls the catalog marks
// NO_SIDE_EFFECTS or IDEMPOTENT, on Unavailable only) then the OpenTelemetry
// interceptor (spans, metrics and trace propagation).
func (c *Client) ClientOptions() []connect.ClientOption {
	return []connect.ClientOption{connect.WithInterceptors(c.interceptors...)}
}

// Transport is the resolving RoundTripper, for callers that are not Connect
// clients, such as the gateway's reverse proxy: set req.URL.Host to the
// short service name. It speaks HTTP/2 only (over mutual TLS when
// Options.TLS gives a configuration, else cleartext), so gRPC and
// bidirectional streams pass through.
func (c *Client) Transport() http.RoundTripper { return c.transport }

// Direct is an http.Client that sends "http://<address>/..." straight to
// that address, to reach one known instance of service rather than any
// (the monitor's probes and scrapes). It shares the mesh's connections
// and, with Options.TLS, its TLS: the instance must prove it is service.
// No breaker, no failover.
func (c *Client) Direct(service string) *http.Client {
	return &http.Client{Transport: directTransport{t: c.transport, service: service}}
}

// Endpoints reports the endpoints of service as the transport sees them,
// sorted by instance ID; for health pages and tests.
func (c *Client) Endpoints(service string) []EndpointStatus { return c.transport.status(service) }

// Close stops following the watcher and closes idle connections. Calls in
// flight finish; the Client must not be used afterwards.
func (c *Client) Close() {
	c.closeOnce.Do(func() {
		close(c.stop)
		<-c.done
		c.transport.CloseIdleConnections()
	})
}
