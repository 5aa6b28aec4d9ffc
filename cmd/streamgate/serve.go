package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/streamgate/streamgate/internal/meshtls"
	"github.com/streamgate/streamgate/internal/operatortokens"
	"github.com/streamgate/streamgate/internal/secretbox"
	"github.com/streamgate/streamgate/node"
	"github.com/streamgate/streamgate/services/gateway/edge"
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
	operatorToken refusedFlag
	tokensFile    string
	kekFile       string
	origins       stringsFlag
	otlpEndpoint  string
	alertRules    string
	segCacheBytes int64
	meshTLSDir    string
	trustDomain   string
	insecureMesh  bool
	rateLimit     float64
	rateBurst     int
	playRate      float64
	playBurst     int
	maxConc       int
	maxConcClient int
	proxies       prefixFlag
	wcProjectID   string

	tokens *operatortokens.File // the tokens file read, for watchTokens
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
	fs.StringVar(&m.databaseURL, "database-url", os.Getenv(envDatabaseURL), "metadata's and auth's database: postgres://... (auth instances share it) or a SQLite path for metadata only (default: $"+envDatabaseURL+", else SQLite files in <data-dir>)")
	fs.StringVar(&m.blobURL, "blob-url", "", "media store of upload, transcoder and streaming: file:///abs/dir, or s3://bucket[/prefix]?endpoint=http://host:port&region=us-east-1&path_style=true with credentials from the AWS environment; upload keeps its partial tus uploads under <prefix>tus/ in an S3 bucket, so with a postgres --database-url it runs several instances (default: $STREAMGATE_BLOB_URL, else <data-dir>/media)")
	fs.Int64Var(&m.segCacheBytes, "segment-cache-bytes", 2<<30, "bound of streaming's local cache of segments read from an s3:// --blob-url, kept in <data-dir>/streaming-cache")
	fs.Var(&m.chains, "chain", "`id=url` JSON-RPC endpoint of an EIP-155 chain (repeatable; default: $"+envChains+", id=url pairs separated by commas, where a provider's URL with its key belongs)")
	fs.StringVar(&m.cacheBackend, "cache-backend", "memory", "cache backend: memory or redis")
	fs.StringVar(&m.redisURL, "redis-url", os.Getenv(envRedisURL), "Redis URL for --cache-backend=redis (default: $"+envRedisURL+")")
	fs.IntVar(&m.workers, "transcode-workers", 0, "transcoder jobs run at once per instance (default: one per two cores)")
	fs.Var(&m.operatorToken, "operator-token", "refused: a token on the command line shows in ps; use --operator-tokens-file or $STREAMGATE_OPERATOR_TOKENS")
	fs.StringVar(&m.tokensFile, "operator-tokens-file", "", "`file` of the operator credentials the gateway accepts as bearer tokens, one name:token a line (# comments; mode 0600, reloaded when it changes) (default: $STREAMGATE_OPERATOR_TOKENS=name:token,name2:token2, or $STREAMGATE_OPERATOR_TOKEN=token named default; dev generates one named dev)")
	fs.StringVar(&m.kekFile, "kek-file", "", "`file` of the key-encryption key that seals auth's signing keys and the worker's webhook secrets at rest: 32 random bytes in base64 (or raw), then previous keys one a line during a rotation (mode 0600; make one: "+secretbox.HowToMake+") (default: $STREAMGATE_KEK, base64 keys separated by commas; dev and cluster make <data-dir>/kek)")
	fs.StringVar(&m.otlpEndpoint, "otlp-endpoint", os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "OTLP/HTTP collector to export traces to, e.g. http://127.0.0.1:4318 (default: $OTEL_EXPORTER_OTLP_ENDPOINT; empty: no export)")
	fs.StringVar(&m.alertRules, "alert-rules", "", "JSON `file` of monitor alert rules over the defaults, e.g. {\"instance_down_for\":\"1m\",\"base_fee_above_gwei\":0}")
	fs.Var(&m.origins, "allowed-origin", "browser `origin` the gateway answers CORS for (repeatable; dev allows the public URL)")
	fs.StringVar(&m.meshTLSDir, "mesh-tls-dir", os.Getenv(envMeshTLSDir), "`dir` of the mesh's mutual TLS files, tls.crt, tls.key and ca.crt (a Kubernetes TLS Secret), in <dir>/<service>/ when several services run here (default: $STREAMGATE_MESH_TLS_DIR; dev and cluster generate them in <data-dir>/tls)")
	fs.StringVar(&m.trustDomain, "trust-domain", meshtls.DefaultTrustDomain, "trust domain the mesh certificates name: spiffe://<trust-domain>/svc/<service>")
	fs.BoolVar(&m.insecureMesh, "insecure-mesh", false, "run the mesh in cleartext (h2c) with no --mesh-tls-dir: any process that reaches a service's port can call it as any service")
	fs.Float64Var(&m.rateLimit, "rate-limit", edge.DefaultPerIP.Rate, "gateway requests per second per client IP, on average, media under /play/ aside (--play-rate-limit) (negative: no limit)")
	fs.IntVar(&m.rateBurst, "rate-burst", edge.DefaultPerIP.Burst, "gateway requests per client IP at once, over --rate-limit")
	fs.Float64Var(&m.playRate, "play-rate-limit", edge.DefaultPerPlayback.Rate, "gateway media requests (manifests, segments under /play/) per second per viewer, on average: per playback session and video, or per client IP without a valid token (negative: no limit)")
	fs.IntVar(&m.playBurst, "play-rate-burst", edge.DefaultPerPlayback.Burst, "gateway media requests per viewer at once, over --play-rate-limit (a start or a seek)")
	fs.IntVar(&m.maxConc, "max-concurrent", edge.DefaultMaxConcurrent, "gateway requests in flight in all, streams and uploads included; past it 503 (negative: no cap)")
	fs.IntVar(&m.maxConcClient, "max-concurrent-per-client", edge.DefaultMaxConcurrentPerClient, "gateway requests in flight per client IP; past it 429 (negative: no cap)")
	fs.StringVar(&m.wcProjectID, "walletconnect-project-id", os.Getenv(envWCProjectID), "WalletConnect Cloud project `id` the web app reaches phone wallets with (public: browsers see it); empty: phone wallets are off (default: $"+envWCProjectID+")")
	fs.Var(&m.proxies, "trusted-proxy", "`CIDR` of a reverse proxy whose X-Forwarded-For names the client (repeatable; default none: the TCP peer is the client)")
}

// prefixFlag collects CIDR prefixes; a bare address is its own /32 or /128.
type prefixFlag []netip.Prefix

func (p *prefixFlag) String() string {
	var parts []string
	for _, x := range *p {
		parts = append(parts, x.String())
	}
	return strings.Join(parts, ",")
}

func (p *prefixFlag) Set(s string) error {
	if a, err := netip.ParseAddr(s); err == nil {
		*p = append(*p, netip.PrefixFrom(a, a.BitLen()))
		return nil
	}
	x, err := netip.ParsePrefix(s)
	if err != nil {
		return fmt.Errorf("want a CIDR prefix such as 10.0.0.0/8 or an address, got %q", s)
	}
	*p = append(*p, x.Masked())
	return nil
}

// meshTLS checks the mesh TLS flags of serve: a TLS directory, or the
// explicit choice of a cleartext mesh.
func (m *meshFlags) meshTLS() error {
	if m.meshTLSDir != "" && m.insecureMesh {
		return errors.New("--mesh-tls-dir and --insecure-mesh exclude each other")
	}
	if m.meshTLSDir == "" && !m.insecureMesh {
		return errors.New("no --mesh-tls-dir (or $STREAMGATE_MESH_TLS_DIR): the mesh ports authenticate callers with mutual TLS, so each service needs its certificate, key and the mesh CA (make them with `streamgate certs`); --insecure-mesh runs without, where anything that reaches a port can call any RPC as any service")
	}
	return nil
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
	if m.rateLimit == 0 || (m.rateLimit > 0 && m.rateBurst < 1) {
		return node.Config{}, fmt.Errorf("--rate-limit %v --rate-burst %d: want a positive rate and a burst of at least 1, or a negative rate for no limit", m.rateLimit, m.rateBurst)
	}
	if m.playRate == 0 || (m.playRate > 0 && m.playBurst < 1) {
		return node.Config{}, fmt.Errorf("--play-rate-limit %v --play-rate-burst %d: want a positive rate and a burst of at least 1, or a negative rate for no limit", m.playRate, m.playBurst)
	}
	addrs := map[string]string{}
	for k, v := range m.addrs {
		addrs[k] = v
	}
	if _, ok := addrs["gateway"]; !ok {
		addrs["gateway"] = m.httpAddr
	}
	operators, err := m.operators()
	if err != nil {
		return node.Config{}, err
	}
	kek, err := m.kek()
	if err != nil {
		return node.Config{}, err
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
			OperatorTokens:    operators,
			KEK:               kek,
			AllowedOrigins:    m.origins,
			Alerts:            alerts,
			SegmentCacheBytes: m.segCacheBytes,
			ClientRateLimit:   edge.RateLimit{Rate: m.rateLimit, Burst: m.rateBurst},
			PlaybackRateLimit: edge.RateLimit{Rate: m.playRate, Burst: m.playBurst},
			MaxConcurrent:     m.maxConc,
			TrustedProxies:    m.proxies,
			WalletConnectID:   m.wcProjectID,

			MaxConcurrentPerClient: m.maxConcClient,
		},
		OTLPEndpoint: m.otlpEndpoint,
		MeshTLSDir:   m.meshTLSDir,
		TrustDomain:  m.trustDomain,
	}, nil
}

// refusedFlag is --operator-token, kept so that its use gets a message
// saying where the tokens go now.
type refusedFlag struct{}

func (refusedFlag) String() string { return "" }
func (refusedFlag) Set(string) error {
	return errors.New("refused: a token on the command line shows in ps and in shell history; put the operator tokens in a file (--operator-tokens-file FILE, lines name:token, chmod 600) or in the environment ($" +
		operatortokens.EnvTokens + "=name:token,... or $" + operatortokens.EnvToken + "=token)")
}

// operators reads the operator tokens: --operator-tokens-file, else the
// environment. Nil: no operator tokens. The file, when one is named, is
// kept in m.tokens for watchTokens.
func (m *meshFlags) operators() (operatortokens.Matcher, error) {
	if m.tokensFile != "" {
		if os.Getenv(operatortokens.EnvTokens) != "" || os.Getenv(operatortokens.EnvToken) != "" {
			return nil, fmt.Errorf("--operator-tokens-file and $%s or $%s are both set: use one", operatortokens.EnvTokens, operatortokens.EnvToken)
		}
		f, err := operatortokens.OpenFile(m.tokensFile)
		if err != nil {
			return nil, err
		}
		m.tokens = f
		return f, nil
	}
	set, err := operatortokens.FromEnv(nil)
	if err != nil || set == nil {
		return nil, err // a nil *Set would be a non-nil Matcher
	}
	return set, nil
}

// watchTokens reloads the operator tokens file when it changes, until ctx
// ends.
func (m *meshFlags) watchTokens(ctx context.Context, logger *slog.Logger) {
	if m.tokens != nil {
		go m.tokens.Watch(ctx, 5*time.Second, logger.With("component", "operator-tokens"))
	}
}

// kek reads the key-encryption key: --kek-file, else $STREAMGATE_KEK; nil
// when neither is set.
func (m *meshFlags) kek() (*secretbox.Keyring, error) {
	env := os.Getenv(envKEK)
	switch {
	case m.kekFile != "" && env != "":
		return nil, fmt.Errorf("--kek-file and $%s are both set: use one", envKEK)
	case m.kekFile != "":
		return secretbox.LoadFile(m.kekFile)
	case env != "":
		k, err := secretbox.FromEnv(env)
		if err != nil {
			return nil, fmt.Errorf("$%s: %w (make a key with: head -c32 /dev/urandom | base64)", envKEK, err)
		}
		return k, nil
	}
	return nil, nil
}

// envKEK holds the key-encryption key when --kek-file does not.
const envKEK = "STREAMGATE_KEK"

// needKEK refuses to run auth or the worker, which seal secrets at rest,
// without a key-encryption key.
func needKEK(services []string) error {
	for _, s := range services {
		if s == "auth" || s == "worker" {
			return fmt.Errorf("%s seals secrets at rest (auth's signing keys, the worker's webhook secrets) and needs a key-encryption key; make one with\n\t%s\nand pass --kek-file kek (or put it in $%s); --dev-mode runs without one", s, secretbox.HowToMake, envKEK)
		}
	}
	return nil
}

func (m *meshFlags) blob() string {
	if m.blobURL != "" {
		return m.blobURL
	}
	return os.Getenv(envBlobURL)
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
	devMode := fs.Bool("dev-mode", false, "development only: accept the dev identity header and offer the dev wallets; loopback addresses only")
	loopbackWebhooks := fs.Bool("loopback-webhooks", false, "let the worker deliver webhooks to http:// loopback URLs (a cluster on one machine, its tests); nothing else of --dev-mode")
	chainNames := chainFlag{}
	fs.Var(&chainNames, "chain-name", "`id=name` a chain's display name for clients (repeatable)")
	demoNFTs := chainFlag{}
	fs.Var(&demoNFTs, "demo-nft", "`id=address` a chain's demo ERC-721 collection, minted from the web app in dev mode (repeatable)")
	publishRPC := fs.Bool("publish-chain-rpc", false, "tell clients the --chain JSON-RPC URLs (a dev chain's; never a keyed provider URL)")
	adminAddr := fs.String("admin-addr", "127.0.0.1:9090", "admin listener of this process: /metrics, gRPC health, /healthz, /readyz and gRPC reflection of every service here, internal RPCs included; never expose it publicly (in a Kubernetes pod: 0.0.0.0:9090 with --advertise-host); :0 picks a port")
	check := fs.Bool("check", false, "check the flags and the environment (unknown STREAMGATE_ variables included) without reading files or connecting, then exit: for manifests in CI")
	natsReplicas := fs.Int("nats-replicas", 1, "copies JetStream keeps of each stream and bucket created at start: 1 on one NATS server, 3 in a cluster; existing ones keep theirs")
	if err := parseWithConfig(fs, args); err != nil {
		return err
	}
	if len(m.chains) == 0 && os.Getenv(envChains) != "" {
		for _, pair := range strings.Split(os.Getenv(envChains), ",") {
			if err := m.chains.Set(strings.TrimSpace(pair)); err != nil {
				return fmt.Errorf("$%s: %w", envChains, err)
			}
		}
	}
	if *natsReplicas < 1 || *natsReplicas > 5 {
		fmt.Fprintf(stderr, "--nats-replicas %d: want 1 to 5 (1 on one NATS server, 3 in a cluster)\n", *natsReplicas)
		return errUsage
	}
	if err := m.meshTLS(); err != nil {
		fmt.Fprintf(stderr, "streamgate serve: %v\n", err)
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
	// What the flags alone tell is checked the same way by --check and
	// before a start; --check adds the environment's names.
	if err := checkServe(services, &m, *devMode); err != nil {
		return err
	}
	if *check {
		return unknownEnv(os.Environ())
	}
	logger := m.logger(stderr)
	cfg, err := m.nodeConfig(services, *dataDir)
	if err != nil {
		return err
	}
	m.watchTokens(ctx, logger)
	if *devMode {
		cfg.DevMode = true
		cfg.Settings.DevMode = true
	}
	cfg.Settings.LoopbackWebhooks = *loopbackWebhooks
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

// checkServe is what can be told wrong from the flags alone, before any
// file they name is read (in a pod those are mounted at run time).
func checkServe(services []string, m *meshFlags, devMode bool) error {
	for _, s := range services {
		if !slices.Contains(node.Names, s) {
			return fmt.Errorf("unknown service %q (want some of %s)", s, strings.Join(node.Names, ", "))
		}
	}
	if m.kekFile == "" && os.Getenv(envKEK) == "" && !devMode {
		if err := needKEK(services); err != nil {
			return err
		}
	}
	if devMode {
		addrs := map[string]string{"gateway": m.httpAddr}
		maps.Copy(addrs, m.addrs)
		if err := loopbackOnly(m.listenHost, addrs); err != nil {
			return fmt.Errorf("--dev-mode: %w", err)
		}
	}
	return nil
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
