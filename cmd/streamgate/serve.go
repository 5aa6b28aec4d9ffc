package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/streamgate/streamgate/node"
)

// meshFlags are the flags serve and dev share.
type meshFlags struct {
	listenHost    string
	advertiseHost string
	httpAddr      string
	addrs         addrFlag
	registryTTL   time.Duration
	drainTimeout  time.Duration
	probeInterval time.Duration
	logLevel      slog.Level
	logJSON       bool
	publicURL     string
	databaseURL   string
	blobURL       string
	chains        chainFlag
	cacheBackend  string
	redisURL      string
	workers       int
	operatorToken string
	origins       stringsFlag
	otlpEndpoint  string
	alertRules    string
	segCacheBytes int64
}

func (m *meshFlags) register(fs *flag.FlagSet) {
	m.addrs = addrFlag{}
	fs.StringVar(&m.listenHost, "listen-host", "127.0.0.1", "host services listen on (random ports unless --addr names one)")
	fs.StringVar(&m.advertiseHost, "advertise-host", "", "host registered in etcd when --listen-host is 0.0.0.0 or ::")
	fs.StringVar(&m.httpAddr, "http-addr", "127.0.0.1:8080", "gateway listen address")
	fs.Var(&m.addrs, "addr", "`service=host:port` listen address of one service (repeatable)")
	fs.DurationVar(&m.registryTTL, "registry-ttl", 10*time.Second, "etcd lease TTL of each registration")
	fs.DurationVar(&m.drainTimeout, "drain-timeout", 15*time.Second, "how long shutdown waits for in-flight calls")
	fs.DurationVar(&m.probeInterval, "probe-interval", 2*time.Second, "monitor's health probe interval")
	fs.TextVar(&m.logLevel, "log-level", slog.LevelInfo, "log level: DEBUG, INFO, WARN, ERROR")
	fs.BoolVar(&m.logJSON, "log-json", false, "log as JSON lines instead of text")
	m.chains = chainFlag{}
	fs.StringVar(&m.publicURL, "public-url", "", "the gateway's URL as clients reach it (default http://<http-addr>); tus URLs and the SIWE domain derive from it")
	fs.StringVar(&m.databaseURL, "database-url", "", "metadata's and auth's database: postgres://... (auth instances share it) or a SQLite path for metadata only (default: SQLite files in <data-dir>)")
	fs.StringVar(&m.blobURL, "blob-url", "", "media store of upload, transcoder and streaming: file:///abs/dir, or s3://bucket[/prefix]?endpoint=http://host:port&region=us-east-1&path_style=true with credentials from the AWS environment; upload keeps its partial tus uploads under <prefix>tus/ in an S3 bucket, so with a postgres --database-url it runs several instances (default: $STREAMGATE_BLOB_URL, else <data-dir>/media)")
	fs.Int64Var(&m.segCacheBytes, "segment-cache-bytes", 2<<30, "bound of streaming's local cache of segments read from an s3:// --blob-url, kept in <data-dir>/streaming-cache")
	fs.Var(&m.chains, "chain", "`id=url` JSON-RPC endpoint of an EIP-155 chain (repeatable)")
	fs.StringVar(&m.cacheBackend, "cache-backend", "memory", "cache backend: memory or redis")
	fs.StringVar(&m.redisURL, "redis-url", "", "Redis URL for --cache-backend=redis")
	fs.IntVar(&m.workers, "transcode-workers", 0, "transcoder jobs run at once per instance (default: one per two cores)")
	fs.StringVar(&m.operatorToken, "operator-token", "", "operator credential the gateway accepts as a bearer token (default: $STREAMGATE_OPERATOR_TOKEN; dev generates one)")
	fs.StringVar(&m.otlpEndpoint, "otlp-endpoint", os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "OTLP/HTTP collector to export traces to, e.g. http://127.0.0.1:4318 (default: $OTEL_EXPORTER_OTLP_ENDPOINT; empty: no export)")
	fs.StringVar(&m.alertRules, "alert-rules", "", "JSON `file` of monitor alert rules over the defaults, e.g. {\"instance_down_for\":\"1m\",\"base_fee_above_gwei\":0}")
	fs.Var(&m.origins, "allowed-origin", "browser `origin` the gateway answers CORS for (repeatable; dev allows the public URL)")
}

// stringsFlag collects repeated values.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

func (m *meshFlags) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: m.logLevel}
	if m.logJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func (m *meshFlags) nodeConfig(services []string, dataDir string) (node.Config, error) {
	alerts, err := node.LoadAlertRules(m.alertRules)
	if err != nil {
		return node.Config{}, fmt.Errorf("--alert-rules: %w", err)
	}
	addrs := map[string]string{}
	for k, v := range m.addrs {
		addrs[k] = v
	}
	if _, ok := addrs["gateway"]; !ok {
		addrs["gateway"] = m.httpAddr
	}
	return node.Config{
		Services:      services,
		Addrs:         addrs,
		ListenHost:    m.listenHost,
		AdvertiseHost: m.advertiseHost,
		RegistryTTL:   m.registryTTL,
		DrainTimeout:  m.drainTimeout,
		Settings: node.Settings{
			DataDir:           dataDir,
			PublicBaseURL:     m.public(),
			DatabaseURL:       m.databaseURL,
			BlobURL:           m.blob(),
			Chains:            map[uint64]string(m.chains),
			CacheBackend:      m.cacheBackend,
			RedisURL:          m.redisURL,
			ProbeInterval:     m.probeInterval,
			TranscodeWorkers:  m.workers,
			OperatorToken:     m.operator(),
			AllowedOrigins:    m.origins,
			Alerts:            alerts,
			SegmentCacheBytes: m.segCacheBytes,
		},
		OTLPEndpoint: m.otlpEndpoint,
	}, nil
}

func (m *meshFlags) operator() string {
	if m.operatorToken != "" {
		return m.operatorToken
	}
	return os.Getenv("STREAMGATE_OPERATOR_TOKEN")
}

func (m *meshFlags) blob() string {
	if m.blobURL != "" {
		return m.blobURL
	}
	return os.Getenv("STREAMGATE_BLOB_URL")
}

func (m *meshFlags) public() string {
	if m.publicURL != "" {
		return strings.TrimSuffix(m.publicURL, "/")
	}
	return "http://" + m.httpAddr
}

// chainFlag collects id=url pairs.
type chainFlag map[uint64]string

func (c chainFlag) String() string {
	var parts []string
	for k, v := range c {
		parts = append(parts, fmt.Sprintf("%d=%s", k, v))
	}
	return strings.Join(parts, ",")
}

func (c chainFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	id, err := strconv.ParseUint(k, 10, 64)
	if !ok || err != nil || id == 0 || v == "" {
		return fmt.Errorf("want id=url with a positive chain id, got %q", s)
	}
	c[id] = v
	return nil
}

// addrFlag collects service=host:port pairs.
type addrFlag map[string]string

func (a addrFlag) String() string {
	var parts []string
	for k, v := range a {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func (a addrFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" || v == "" {
		return fmt.Errorf("want service=host:port, got %q", s)
	}
	a[k] = v
	return nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: streamgate serve [flags] <service...|all>\n\nservices: %s\n\nflags:\n", strings.Join(node.Names, ", "))
		fs.PrintDefaults()
	}
	var m meshFlags
	m.register(fs)
	etcd := fs.String("etcd", "http://127.0.0.1:2379", "comma-separated etcd client URLs")
	dataDir := fs.String("data-dir", ".streamgate", "local state of the services run here (SQLite files, local media store)")
	nats := fs.String("nats", "nats://127.0.0.1:4222", "NATS server URL")
	devMode := fs.Bool("dev-mode", false, "development only (streamgate cluster sets it): accept the dev identity header and offer the dev wallets; loopback addresses only")
	chainNames := chainFlag{}
	fs.Var(&chainNames, "chain-name", "`id=name` a chain's display name for clients (repeatable)")
	demoNFTs := chainFlag{}
	fs.Var(&demoNFTs, "demo-nft", "`id=address` a chain's demo ERC-721 collection, minted from the web app in dev mode (repeatable)")
	publishRPC := fs.Bool("publish-chain-rpc", false, "tell clients the --chain JSON-RPC URLs (a dev chain's; never a keyed provider URL)")
	adminAddr := fs.String("admin-addr", "127.0.0.1:9090", "admin listener of this process: /metrics, gRPC health, /healthz, /readyz and gRPC reflection of every service here, internal RPCs included; never expose it publicly (in a Kubernetes pod: 0.0.0.0:9090 with --advertise-host); :0 picks a port")
	natsReplicas := fs.Int("nats-replicas", 1, "copies JetStream keeps of each stream and bucket created at start: 1 on one NATS server, 3 in a cluster; existing ones keep theirs")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *natsReplicas < 1 || *natsReplicas > 5 {
		fmt.Fprintf(stderr, "--nats-replicas %d: want 1 to 5 (1 on one NATS server, 3 in a cluster)\n", *natsReplicas)
		return errUsage
	}
	services := fs.Args()
	if len(services) == 1 && services[0] == "all" {
		services = node.Names
	}
	if len(services) == 0 {
		fs.Usage()
		return errUsage
	}
	logger := m.logger(stderr)
	cfg, err := m.nodeConfig(services, *dataDir)
	if err != nil {
		return err
	}
	if *devMode {
		if err := loopbackOnly(m.listenHost, cfg.Addrs); err != nil {
			return fmt.Errorf("--dev-mode: %w", err)
		}
		cfg.DevMode = true
		cfg.Settings.DevMode = true
	}
	cfg.Settings.ChainNames = map[uint64]string(chainNames)
	cfg.Settings.DemoNFTs = map[uint64]string(demoNFTs)
	cfg.Settings.PublishChainRPC = *publishRPC
	cfg.EtcdEndpoints = strings.Split(*etcd, ",")
	cfg.NATSURL = *nats
	cfg.NATSReplicas = *natsReplicas
	cfg.AdminAddr = *adminAddr
	cfg.OnReady = func(addrs map[string]string) {
		for _, s := range services {
			fmt.Fprintf(stdout, "%-10s %s\n", s, addrs[s])
		}
		fmt.Fprintf(stdout, "%-10s %s\n", node.AdminKey, addrs[node.AdminKey])
		fmt.Fprintln(stdout, "ready")
	}
	return node.Run(ctx, cfg, logger)
}

// loopbackOnly refuses dev mode on an address other machines reach: it
// trusts an identity header any caller can send.
func loopbackOnly(listenHost string, addrs map[string]string) error {
	hosts := []string{listenHost}
	for _, a := range addrs {
		h, _, err := net.SplitHostPort(a)
		if err != nil {
			return fmt.Errorf("address %q: %w", a, err)
		}
		hosts = append(hosts, h)
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("listens on %q; dev mode trusts an identity header anyone can send, so it runs on loopback only", h)
		}
	}
	return nil
}
