package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	neturl "net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/ethereum/go-ethereum/common"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
	"github.com/streamgate/streamgate/gen/go/streamgate/cache/v1/cachev1connect"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	"github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1/transcoderv1connect"
	"github.com/streamgate/streamgate/gen/go/streamgate/upload/v1/uploadv1connect"
	"github.com/streamgate/streamgate/internal/authtoken"
	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/buildinfo"
	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/mediaprobe"
	"github.com/streamgate/streamgate/internal/mesh"
	"github.com/streamgate/streamgate/internal/operatortokens"
	"github.com/streamgate/streamgate/internal/registry"
	"github.com/streamgate/streamgate/internal/secretbox"
	"github.com/streamgate/streamgate/internal/video"
	"github.com/streamgate/streamgate/services/auth"
	"github.com/streamgate/streamgate/services/auth/access"
	"github.com/streamgate/streamgate/services/auth/chain"
	"github.com/streamgate/streamgate/services/cache"
	cachememory "github.com/streamgate/streamgate/services/cache/memory"
	cacheredis "github.com/streamgate/streamgate/services/cache/redis"
	"github.com/streamgate/streamgate/services/gateway"
	"github.com/streamgate/streamgate/services/gateway/edge"
	"github.com/streamgate/streamgate/services/metadata"
	"github.com/streamgate/streamgate/services/monitor"
	"github.com/streamgate/streamgate/services/streaming"
	"github.com/streamgate/streamgate/services/transcoder"
	"github.com/streamgate/streamgate/services/upload"
	"github.com/streamgate/streamgate/services/upload/etcdlocker"
	"github.com/streamgate/streamgate/services/worker"
	"github.com/streamgate/streamgate/web"
)

// Service is what the server runtime needs from each service.
type Service interface {
	// Name is the short name, e.g. "upload".
	Name() string
	// ServiceName is the protobuf service name, e.g. "streamgate.upload.v1.UploadService".
	ServiceName() string
	// Handler returns the Connect handler and the path prefix it serves.
	Handler(opts ...connect.HandlerOption) (string, http.Handler)
}

// Runner is a service with a background loop (probes, consumers), run for
// the instance's lifetime.
type Runner interface {
	Run(ctx context.Context) error
}

// HTTPMounter is a service that also serves plain HTTP routes on its
// listener (the gateway edge at "/", tus uploads, media delivery).
type HTTPMounter interface {
	HTTPHandlers() map[string]http.Handler
}

// Closer is a service holding resources (a database, files) released after
// its server has drained.
type Closer interface {
	Close() error
}

// Reflector is a service whose listener answers gRPC reflection for more
// services than its own: the gateway lists the whole API.
type Reflector interface {
	ReflectionNames() []string
}

// EdgeLogged is a service whose RPCs reach it through an HTTP edge that
// writes the access log (the gateway): the server leaves its own per-RPC
// log out, so each call is logged once.
type EdgeLogged interface {
	EdgeLogged()
}

// Names lists the nine services in start order.
var Names = []string{"gateway", "upload", "transcoder", "metadata", "auth", "streaming", "cache", "worker", "monitor"}

// Settings holds per-service settings.
type Settings struct {
	// DataDir holds each service's local state (upload/, auth/,
	// metadata.db) and, unless BlobURL names another, the shared media
	// store (media/), for the local backends that one machine uses.
	DataDir string
	// BlobURL is the media store upload, transcoder and streaming share
	// (blob.Open): "file:///abs/dir", or "s3://bucket[/prefix]?endpoint=...&region=...&path_style=true"
	// with credentials from the AWS environment, so that instances on
	// several machines need no shared disk. Empty: <DataDir>/media.
	BlobURL string
	// PublicBaseURL is the gateway's URL as clients reach it, e.g.
	// "http://127.0.0.1:8080": tus URLs and the SIWE domain and URI derive
	// from it.
	PublicBaseURL string
	// DevMode accepts the dev identity header in place of a session.
	DevMode bool
	// LoopbackWebhooks lets the worker deliver to http:// loopback URLs
	// without the rest of DevMode (streamgate cluster).
	LoopbackWebhooks bool
	// Alerts are the monitor's alert rules; nil: monitor.DefaultAlertRules.
	Alerts *monitor.AlertRules
	// DatabaseURL is metadata's, auth's and upload's database; empty:
	// SQLite in DataDir. Auth and upload share it only when it is
	// PostgreSQL (several instances need one shared store); with a SQLite
	// path they keep their own SQLite files in DataDir, which serve one
	// instance each.
	DatabaseURL string
	// Chains maps EIP-155 chain ids to JSON-RPC URLs.
	Chains map[uint64]string
	// CacheBackend is "memory" (default) or "redis"; RedisURL for redis.
	CacheBackend string
	RedisURL     string
	// ProbeInterval is the monitor's health probe interval; 0 for its default.
	ProbeInterval time.Duration
	// TranscodeWorkers is the transcoder pool size per instance; 0 for its
	// default.
	TranscodeWorkers int
	// OperatorTokens are the named operator credentials the gateway
	// accepts (Authorization: Bearer; operatortokens.File reloads its
	// file). Nil, and no OperatorToken: no operator access from outside.
	OperatorTokens operatortokens.Matcher
	// OperatorToken is one operator credential, named "default", for
	// callers that have a single one; used when OperatorTokens is nil.
	OperatorToken string
	// KEK is the key-encryption key auth's signing keys and the worker's
	// webhook secrets are sealed under at rest. Nil: they are stored in
	// clear (tests; streamgate serve refuses it outside --dev-mode).
	KEK *secretbox.Keyring
	// AllowedOrigins are the browser origins the gateway answers CORS for.
	AllowedOrigins []string
	// ChainNames names the chains for clients; DemoNFTs gives a chain's
	// demo ERC-721 collection (dev); PublishChainRPC lets the gateway tell
	// clients the chains' RPC URLs (dev, where they are loopback anyway).
	ChainNames      map[uint64]string
	DemoNFTs        map[uint64]string
	PublishChainRPC bool
	// MaxUploadBytes is the largest upload; 0 for 10 GiB.
	MaxUploadBytes uint64
	// SegmentCacheBytes bounds streaming's local cache of segments read
	// from a BlobURL without local files (S3), kept in
	// <DataDir>/streaming-cache; 0 for 2 GiB.
	SegmentCacheBytes int64
	// ClientRateLimit is the gateway's token bucket per client IP; zero
	// value: edge.DefaultPerIP (50/s, burst 200); a negative Rate: none.
	ClientRateLimit edge.RateLimit
	// PlaybackRateLimit is the gateway's token bucket per viewer (playback
	// session and video) for media under /play/; zero value:
	// edge.DefaultPerPlayback; a negative Rate: none.
	PlaybackRateLimit edge.RateLimit
	// MaxConcurrent and MaxConcurrentPerClient cap the gateway's requests
	// in flight, in all and per client IP; 0: the edge's defaults;
	// negative: no cap.
	MaxConcurrent, MaxConcurrentPerClient int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For the
	// gateway believes to identify clients; empty: none.
	TrustedProxies []netip.Prefix
	// WalletConnectID is the WalletConnect Cloud project id the gateway
	// tells the web app, which then offers phone wallets; empty: none.
	WalletConnectID string
}

// Limits both upload and the gateway's client configuration state.
const (
	defaultMaxUploadBytes = 10 << 30
	maxUploadDuration     = 4 * time.Hour // mediaprobe's default
	maxTitleLength        = 200           // metadata's limit
)

// LoadAlertRules reads the monitor's alert rules from a JSON file
// (monitor.ParseAlertRules), over the defaults; an empty path gives nil,
// the defaults.
func LoadAlertRules(path string) (*monitor.AlertRules, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := monitor.ParseAlertRules(data, monitor.DefaultAlertRules())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

func (c Settings) alertRules() monitor.AlertRules {
	if c.Alerts == nil {
		return monitor.DefaultAlertRules()
	}
	return *c.Alerts
}

// operators is OperatorTokens, or else the one OperatorToken; nil for
// none.
func (c Settings) operators() operatortokens.Matcher {
	if c.OperatorTokens != nil {
		return c.OperatorTokens
	}
	if set, err := operatortokens.Single(c.OperatorToken); err == nil && set != nil {
		return set
	}
	return nil
}

func (c Settings) maxUploadBytes() uint64 {
	if c.MaxUploadBytes == 0 {
		return defaultMaxUploadBytes
	}
	return c.MaxUploadBytes
}

// Deps are the shared infrastructure services are built from. A nil field
// is an error for the services that need it.
type Deps struct {
	Logger   *slog.Logger
	Catalog  *catalog.Catalog
	Registry *registry.Watcher
	Mesh     *mesh.Client
	Bus      *events.Bus
	Etcd     *clientv3.Client
	Settings Settings
	// InstanceID is the instance's registry id, for services that name
	// themselves in shared state (transcoder workers).
	InstanceID string
	// MeterProvider records the instance's domain metrics next to its RPC
	// metrics (served at its /metrics). Nil: a no-op provider.
	MeterProvider metric.MeterProvider
}

// Build returns the named service. ctx bounds its start-up (opening stores,
// connecting); it is not kept.
func Build(ctx context.Context, name string, deps Deps) (Service, error) {
	logger := deps.Logger
	if logger == nil {
		return nil, errors.New("app: nil logger")
	}
	cfg := deps.Settings
	if deps.MeterProvider == nil {
		deps.MeterProvider = noop.NewMeterProvider()
	}
	switch name {
	case "gateway":
		if deps.Mesh == nil || deps.Catalog == nil {
			return nil, errors.New("gateway: needs the mesh client and the catalog")
		}
		return buildGateway(cfg, deps, logger)
	case "monitor":
		if deps.Registry == nil {
			return nil, errors.New("monitor: needs the registry watcher")
		}
		// Probes and scrapes reach each instance at its address; through
		// the mesh client they present the monitor's certificate and
		// check the instance's (mesh TLS), else speak h2c.
		probe := monitor.GRPCHealthProbe(h2cClient())
		opts := []monitor.Option{monitor.WithMetricsClient(&http.Client{Timeout: 10 * time.Second})}
		if m := deps.Mesh; m != nil {
			probe = monitor.GRPCHealthProbeVia(func(service string) connect.HTTPClient { return m.Direct(service) })
			opts[0] = monitor.WithMetricsClients(func(service string) monitor.HTTPDoer {
				c := m.Direct(service)
				c.Timeout = 10 * time.Second
				return c
			})
		}
		if deps.Bus != nil {
			opts = append(opts, monitor.WithBus(deps.Bus))
		}
		if deps.Etcd != nil {
			opts = append(opts, monitor.WithNotifyLeader(deps.Etcd, deps.InstanceID))
		}
		return monitor.New(monitor.Config{
			Services:      Names,
			ProbeInterval: cfg.ProbeInterval,
			Chains:        cfg.Chains,
			ChainNames:    cfg.ChainNames,
		}, deps.Registry, probe, logger, opts...)
	case "cache":
		return buildCache(ctx, cfg, deps.MeterProvider, logger)
	}

	// The rest keep state and talk to the mesh and the bus.
	if deps.Mesh == nil || deps.Bus == nil {
		return nil, fmt.Errorf("%s: needs the mesh client and the event bus", name)
	}
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("%s: needs a data directory", name)
	}
	switch name {
	case "upload":
		blobs, err := mediaStore(ctx, cfg)
		if err != nil {
			return nil, err
		}
		probe, err := mediaprobe.New(mediaprobe.Config{})
		if err != nil {
			return nil, err
		}
		return buildUpload(cfg, deps, blobs, probe, logger)
	case "transcoder":
		blobs, err := mediaStore(ctx, cfg)
		if err != nil {
			return nil, err
		}
		tc := transcoder.Config{InstanceID: deps.InstanceID, Workers: cfg.TranscodeWorkers, MeterProvider: deps.MeterProvider,
			Protector: transcoder.MeshProtector{
				Metadata: metadataClient(deps.Mesh),
				Auth:     authv1connect.NewAuthServiceClient(deps.Mesh.HTTPClient(), deps.Mesh.BaseURL("auth"), deps.Mesh.ClientOptions()...),
			}}
		tc.Transcode.WorkDir = filepath.Join(cfg.DataDir, "transcode-work")
		return transcoder.New(tc, deps.Bus, blobs, logger)
	case "metadata":
		url := cfg.DatabaseURL
		if url == "" {
			url = "sqlite://" + filepath.Join(cfg.DataDir, "metadata.db")
		}
		return metadata.New(metadata.Config{DatabaseURL: url}, nil, deps.Bus, logger)
	case "auth":
		return buildAuth(ctx, cfg, deps, logger)
	case "streaming":
		blobs, err := mediaStore(ctx, cfg)
		if err != nil {
			return nil, err
		}
		verifier, err := tokenVerifier(deps.Mesh, logger)
		if err != nil {
			return nil, err
		}
		return streaming.New(streaming.Config{
			PublicBaseURL: cfg.PublicBaseURL, MeterProvider: deps.MeterProvider,
			SegmentCacheDir: filepath.Join(cfg.DataDir, "streaming-cache"), SegmentCacheMaxBytes: cfg.SegmentCacheBytes,
		}, blobs,
			video.FromMetadata(metadataClient(deps.Mesh)), verifier,
			authv1connect.NewAuthServiceClient(deps.Mesh.HTTPClient(), deps.Mesh.BaseURL("auth"), deps.Mesh.ClientOptions()...),
			deps.Bus, logger)
	case "worker":
		w, err := worker.New(worker.Config{DevMode: cfg.DevMode, LoopbackWebhooks: cfg.LoopbackWebhooks, NodeName: deps.InstanceID, KEK: cfg.KEK}, deps.Bus, deps.Etcd, logger,
			worker.WithMeterProvider(deps.MeterProvider), worker.WithBuiltins(workerBuiltins(deps.Mesh)))
		if err != nil {
			return nil, err
		}
		// A wrong KEK fails the start; NATS not ready yet is retried by Run.
		if err := w.CheckSecrets(ctx); errors.Is(err, worker.ErrKEK) {
			return nil, err
		} else if err != nil {
			logger.Warn("worker setup failed; retrying in the background", "err", err)
		}
		return w, nil
	}
	return nil, fmt.Errorf("unknown service %q (want one of %v)", name, Names)
}

// buildGateway puts the edge (access classes, sessions verified against
// auth's JWKS, CORS, limits) in front of the mesh transport.
func buildGateway(cfg Settings, deps Deps, logger *slog.Logger) (Service, error) {
	verifier, err := tokenVerifier(deps.Mesh, logger)
	if err != nil {
		return nil, err
	}
	e, err := edge.New(edge.Config{
		PublicBaseURL:  cfg.PublicBaseURL,
		DevMode:        cfg.DevMode,
		Operators:      cfg.operators(),
		AllowedOrigins: cfg.AllowedOrigins,
		PerIP:          cfg.ClientRateLimit,
		PerPlayback:    cfg.PlaybackRateLimit,
		MaxConcurrent:  cfg.MaxConcurrent,
		TrustedProxies: cfg.TrustedProxies,

		MaxConcurrentPerClient: cfg.MaxConcurrentPerClient,
	}, deps.Mesh.Transport(), deps.Catalog, verifier, logger)
	if err != nil {
		return nil, err
	}
	ids := make([]uint64, 0, len(cfg.Chains))
	for id := range cfg.Chains {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var chains []gateway.Chain
	for _, id := range ids {
		c := gateway.Chain{ID: id, Name: cfg.ChainNames[id], DemoNFTContract: cfg.DemoNFTs[id]}
		if c.Name == "" {
			c.Name = fmt.Sprintf("chain %d", id)
		}
		if cfg.PublishChainRPC {
			c.RPCURL = cfg.Chains[id]
		}
		chains = append(chains, c)
	}
	// The embed page may be framed by the video's allowed origins.
	opts := []gateway.Option{gateway.WithEmbedPolicy(video.FromMetadata(metadataClient(deps.Mesh)))}
	if deps.Bus != nil {
		// Sessions revoked by auth are refused at once, not when their
		// tokens expire.
		opts = append(opts, gateway.WithBackground(func(ctx context.Context) error {
			return e.FollowRevocations(ctx, deps.Bus)
		}))
	}
	return gateway.New(gateway.Config{
		APIBaseURL: cfg.PublicBaseURL,
		Chains:     chains,
		Upload: gateway.UploadLimits{
			MaxUploadBytes:      cfg.maxUploadBytes(),
			MaxDuration:         maxUploadDuration,
			AllowedContentTypes: []string{"video/mp4", "video/quicktime", "video/webm", "video/x-matroska"},
			MaxTitleLength:      maxTitleLength,
		},
		Version: buildinfo.Read().Version,
		DevMode: cfg.DevMode,
		WebApp:  web.Handler(),

		WalletConnectProjectID: cfg.WalletConnectID,
	}, e, deps.Catalog, deps.Registry, logger, opts...)
}

// tokenVerifier checks session and playback tokens locally against auth's
// JWKS, fetched through the mesh and cached.
func tokenVerifier(m *mesh.Client, logger *slog.Logger) (*authtoken.Verifier, error) {
	keys := authv1connect.NewAuthServiceClient(m.HTTPClient(), m.BaseURL("auth"), m.ClientOptions()...)
	return authtoken.NewVerifier(keys, authtoken.VerifierConfig{Issuer: "streamgate-auth"}, logger.With("component", "jwks"))
}

// mediaStore opens the media store, checking it is reachable.
func mediaStore(ctx context.Context, cfg Settings) (blob.Store, error) {
	url := cfg.BlobURL
	if url == "" {
		url = filepath.Join(cfg.DataDir, "media") // a bare path: DataDir may be relative
	}
	return blob.Open(ctx, url)
}

func cacheClient(m *mesh.Client) cachev1connect.CacheServiceClient {
	return cachev1connect.NewCacheServiceClient(m.HTTPClient(), m.BaseURL("cache"), m.ClientOptions()...)
}

func metadataClient(m *mesh.Client) metadatav1connect.MetadataServiceClient {
	return metadatav1connect.NewMetadataServiceClient(m.HTTPClient(), m.BaseURL("metadata"), m.ClientOptions()...)
}

// uploadVideos lets upload create the video record through the mesh.
type uploadVideos struct {
	client metadatav1connect.MetadataServiceClient
}

func (u uploadVideos) CreateVideo(ctx context.Context, req *metadatav1.CreateVideoRequest) (*metadatav1.Video, error) {
	res, err := u.client.CreateVideo(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetVideo(), nil
}

func buildCache(ctx context.Context, cfg Settings, mp metric.MeterProvider, logger *slog.Logger) (Service, error) {
	var backend cache.Backend
	switch cfg.CacheBackend {
	case "", "memory":
		b, err := cachememory.New(cachememory.Config{MaxEntries: cache.DefaultMaxEntries})
		if err != nil {
			return nil, err
		}
		backend = b
	case "redis":
		b, err := cacheredis.New(ctx, cacheredis.Config{URL: cfg.RedisURL})
		if err != nil {
			return nil, err
		}
		backend = b
	default:
		return nil, fmt.Errorf("cache: unknown backend %q (want memory or redis)", cfg.CacheBackend)
	}
	return cache.New(cache.Config{}, backend, mp, logger)
}

// buildAuth wires auth to the chains (EIP-1271 wallets, policy evaluation),
// to metadata (video policies), to the bus (ownership.changed) and to the
// transfer watcher that revokes playback grants.
func buildAuth(_ context.Context, cfg Settings, deps Deps, logger *slog.Logger) (Service, error) {
	u, err := neturl.Parse(cfg.PublicBaseURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("auth: a public base URL is required for the SIWE domain and URI, got %q", cfg.PublicBaseURL)
	}
	chains, err := chain.New(chain.Config{Chains: cfg.Chains}, logger.With("component", "chain"))
	if err != nil {
		return nil, err
	}
	// Decisions are shared with the other auth instances through the cache
	// service; a cache service that is down is a miss, not an outage.
	shared, err := access.NewSharedCache(access.SharedConfig{}, cacheClient(deps.Mesh), logger.With("component", "access-cache"))
	if err != nil {
		chains.Close()
		return nil, err
	}
	ev, err := access.NewEvaluator(access.Config{}, chains, shared, logger.With("component", "access"))
	if err != nil {
		chains.Close()
		return nil, err
	}
	ids := make([]uint64, 0, len(cfg.Chains))
	for id := range cfg.Chains {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	// The watcher follows the contracts policies name as the evaluator
	// meets them, on every configured chain from start-up.
	watcher, err := access.NewWatcher(access.WatcherConfig{ChainIDs: ids}, chains, ev, logger.With("component", "transfer-watcher"))
	if err != nil {
		chains.Close()
		return nil, err
	}
	// The watcher also follows the contracts of the grants already in the
	// database (issued before this instance started, or by another one).
	opts := []auth.Option{auth.WithMeterProvider(deps.MeterProvider), auth.WithPolicyFollower(ev)}
	if deps.Bus != nil {
		opts = append(opts, auth.WithPublisher(deps.Bus))
	}
	svc, err := auth.New(auth.Config{
		Domain:          u.Host,
		URI:             strings.TrimSuffix(cfg.PublicBaseURL, "/"),
		AllowedChainIDs: ids,
		DataDir:         filepath.Join(cfg.DataDir, "auth"),
		DatabaseURL:     cfg.postgresURL(),
		DevMode:         cfg.DevMode,
		KEK:             cfg.KEK,
	}, chains, accessChecker{ev}, video.FromMetadata(metadataClient(deps.Mesh)), logger, opts...)
	if err != nil {
		chains.Close()
		return nil, err
	}
	watcher.OnTransfer(svc.OnTransfer)
	return &authService{Service: svc, chains: chains, watcher: watcher}, nil
}

// buildUpload makes the upload service. With etcd, the tus lock and the
// service's own per-upload steps are serialized through etcd, so that
// several upload instances (on one PostgreSQL database) can take any
// request for any upload. With an S3 media store the tus partial uploads
// are in its bucket, so any instance can take a resume; else they are on
// each instance's disk (DataDir/upload/tus) and upload runs once (see
// localState).
func buildUpload(cfg Settings, deps Deps, blobs blob.Store, probe *mediaprobe.Prober, logger *slog.Logger) (Service, error) {
	ucfg := upload.Config{
		DevMode:        cfg.DevMode,
		PublicBaseURL:  cfg.PublicBaseURL,
		DataDir:        filepath.Join(cfg.DataDir, "upload"),
		DatabaseURL:    cfg.postgresURL(),
		MaxUploadBytes: cfg.maxUploadBytes(),
		MeterProvider:  deps.MeterProvider,
	}
	var locker *etcdlocker.Locker
	if deps.Etcd != nil {
		var err error
		locker, err = etcdlocker.New(deps.Etcd, etcdlocker.Config{}, logger.With("component", "upload-lock"))
		if err != nil {
			return nil, err
		}
		ucfg.Locker = locker
	}
	svc, err := upload.New(ucfg, uploadVideos{metadataClient(deps.Mesh)}, deps.Bus, blobs, probe, logger)
	if err != nil {
		if locker != nil {
			locker.Close()
		}
		return nil, err
	}
	if locker == nil {
		return svc, nil
	}
	return &uploadService{Service: svc, locker: locker}, nil
}

// uploadService releases the etcd locks (revoking their lease) after the
// service has closed.
type uploadService struct {
	*upload.Service
	locker *etcdlocker.Locker
}

func (u *uploadService) Close() error {
	return errors.Join(u.Service.Close(), u.locker.Close())
}

// postgresURL is DatabaseURL when it names a PostgreSQL database, which
// auth and upload share between their instances, else "".
func (s Settings) postgresURL() string {
	if strings.HasPrefix(s.DatabaseURL, "postgres://") || strings.HasPrefix(s.DatabaseURL, "postgresql://") {
		return s.DatabaseURL
	}
	return ""
}

// authService runs the transfer watcher with auth and closes the chain
// clients with the service.
type authService struct {
	*auth.Service
	chains  *chain.Client
	watcher *access.Watcher
}

// Run runs auth's loop (key rotation, sweeps) and the transfer watcher
// until ctx is done; if either returns early the other is stopped too.
func (a *authService) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- a.Service.Run(ctx) }()
	go func() { errs <- a.watcher.Run(ctx) }()
	first := <-errs
	cancel()
	second := <-errs
	return errors.Join(first, second)
}

func (a *authService) Close() error {
	err := a.Service.Close()
	a.chains.Close()
	return err
}

// accessChecker adapts the policy evaluator to auth's AccessChecker,
// mapping its errors to auth's sentinels (keeping both in the chain).
type accessChecker struct{ ev *access.Evaluator }

func (a accessChecker) Check(ctx context.Context, policy *authv1.AccessPolicy, address common.Address, bypassCache bool) (*authv1.CheckAccessResponse, error) {
	d, err := a.ev.Check(ctx, policy, address, bypassCache)
	switch {
	case err == nil:
		return d.Proto(), nil
	case errors.Is(err, access.ErrInvalidPolicy):
		return nil, fmt.Errorf("%w: %w", auth.ErrInvalidPolicy, err)
	case errors.Is(err, access.ErrMisconfigured):
		return nil, fmt.Errorf("%w: %w", auth.ErrPolicyMisconfigured, err)
	case errors.Is(err, access.ErrUnavailable):
		return nil, fmt.Errorf("%w: %w", auth.ErrChainUnavailable, err)
	}
	return nil, err
}

// h2cClient speaks HTTP/2 without TLS, as every StreamGate listener does.
func h2cClient() *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: p}}
}

// workerBuiltins gives the worker's built-in kinds (cleanup, media
// deletion, ownership re-verification) the mesh clients of the services
// that own the data; they call those services' internal RPCs.
func workerBuiltins(m *mesh.Client) worker.Builtins {
	auth := authv1connect.NewAuthServiceClient(m.HTTPClient(), m.BaseURL("auth"), m.ClientOptions()...)
	return worker.Builtins{
		Upload:      uploadv1connect.NewUploadServiceClient(m.HTTPClient(), m.BaseURL("upload"), m.ClientOptions()...),
		Metadata:    metadataClient(m),
		Transcoder:  transcoderv1connect.NewTranscoderServiceClient(m.HTTPClient(), m.BaseURL("transcoder"), m.ClientOptions()...),
		Auth:        auth,
		ContentKeys: auth,
	}
}
