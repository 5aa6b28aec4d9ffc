package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/streamgate/streamgate/internal/devchain"
	"github.com/streamgate/streamgate/internal/devengine"
	"github.com/streamgate/streamgate/internal/meshtls"
	"github.com/streamgate/streamgate/internal/operatortokens"
	"github.com/streamgate/streamgate/node"
)

// runCluster runs the platform as the prod overlay of deploy/k8s lays it
// out, on one machine: every StatefulSet and Deployment of the streamgate
// image becomes processes (3 etcd members, 3 NATS servers with R3 streams,
// two of every service), started with the args and environment the
// manifests give their containers; the engines the overlay leaves to the
// operator (PostgreSQL, Redis, an S3 server, a chain) run here and fill the
// Secrets and site settings it expects. A TCP balancer on --http-addr
// stands in for the load balancer in front of the gateways. Every process
// can be killed on its own; cluster.json in the data dir names them all
// with their pids, for the cluster test and for anyone trying failures by
// hand.
func runCluster(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", ".streamgate-cluster", "where every process of the cluster keeps its data, logs (logs/) and cluster.json")
	httpAddr := fs.String("http-addr", "127.0.0.1:8080", "address of the balancer in front of the gateways: the public URL")
	planFile := fs.String("plan", "", "a cluster plan (deploy/k8s/check/cmd/localplan OVERLAY); default: the prod overlay's, built in")
	instances := fs.Int("instances", 0, "processes of each service, 1 to 5 (default: the plan's replicas)")
	chainPort := fs.Int("chain-port", 8545, "loopback port of the dev chain's JSON-RPC; 0 picks a free one")
	registryTTL := fs.Duration("registry-ttl", 5*time.Second, "etcd lease TTL of each service registration: how long a killed instance stays listed")
	childLog := fs.String("log-level", "WARN", "log level of the cluster's processes (their logs are in <data-dir>/logs)")
	noSeed := fs.Bool("no-seed", false, "do not seed the demo video")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 0 || *instances < 0 || *instances > 5 {
		fs.Usage()
		return errUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*childLog)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	if err := loopbackOnly("127.0.0.1", map[string]string{"gateway": *httpAddr}); err != nil {
		return fmt.Errorf("--http-addr: %w", err)
	}
	raw := shippedPlan
	if *planFile != "" {
		var err error
		if raw, err = os.ReadFile(*planFile); err != nil {
			return err
		}
	}
	p, err := parsePlan(raw)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("component", "cluster")
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, d := range []string{"logs", "pods"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o750); err != nil {
			return err
		}
	}
	h := &planHost{dir: dir, tlsDir: filepath.Join(dir, "tls"), plan: p, pods: p.pods(*instances), secrets: map[string]string{}, config: map[string]string{}}
	if err := h.allocatePorts(); err != nil {
		return err
	}
	var etcdPods, natsPods, servicePods []planPod
	var gateways []string
	for _, pod := range h.pods {
		switch kind, svc := pod.kind(); kind {
		case "etcd":
			etcdPods = append(etcdPods, pod)
		case "nats":
			natsPods = append(natsPods, pod)
		case "service":
			servicePods = append(servicePods, pod)
			if svc == "gateway" {
				a, err := h.serviceAddr("gateway", pod)
				if err != nil {
					return err
				}
				gateways = append(gateways, a)
			}
		default:
			return fmt.Errorf("%s runs %q, neither `serve` nor `embedded etcd|nats`", pod.Name, pod.W.Args)
		}
	}
	if len(etcdPods) == 0 || len(natsPods) == 0 || len(gateways) == 0 {
		return fmt.Errorf("the plan from %s has %d etcd, %d NATS and %d gateway pods; it needs each", p.Source, len(etcdPods), len(natsPods), len(gateways))
	}
	c := &cluster{dir: dir, self: self, logger: logger, logLevel: *childLog}
	defer c.stop()
	// The public address first: the processes started next take random
	// loopback ports, and one could take it meanwhile.
	lb, err := listenBalancer(*httpAddr, gateways, logger)
	if err != nil {
		return err
	}
	c.onStop(func() { _ = lb.Close() })

	// What the overlay leaves to the operator, run here.
	logger.Info("starting PostgreSQL, Redis, the S3 server and the dev chain")
	pg, err := devengine.StartPostgres(ctx, postgresDir(dir, logger))
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	c.onStop(func() { _ = pg.Stop() })
	dbURL, err := pg.CreateDatabase(ctx, "streamgate")
	if err != nil {
		return err
	}
	redis, err := devengine.StartRedis(ctx, filepath.Join(dir, "redis"))
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	c.onStop(func() { _ = redis.Stop() })
	s3, err := devengine.StartS3(ctx, filepath.Join(dir, "s3"), "streamgate")
	if err != nil {
		return fmt.Errorf("s3: %w", err)
	}
	c.onStop(func() { _ = s3.Stop() })
	public := "http://" + *httpAddr
	chain, err := devchain.New(ctx, devchain.Config{HTTPPort: *chainPort, CORSOrigins: []string{public}}, logger.With("component", "devchain"))
	if err != nil {
		return fmt.Errorf("dev chain: %w", err)
	}
	c.onStop(chain.Close)

	// The certificates cert-manager would issue, made once and reused on
	// restart: the Secret streamgate-tls-<name> is tls/<name>/.
	if err := meshtls.EnsureDev(h.tlsDir, meshtls.DefaultTrustDomain, slices.Concat(node.Names, node.Engines)); err != nil {
		return fmt.Errorf("mesh certificates: %w", err)
	}
	tokens, operator, err := clusterOperatorTokens()
	if err != nil {
		return err
	}
	kek := os.Getenv(envKEK)
	if kek == "" {
		kekFile, err := devKEKFile(dir)
		if err != nil {
			return fmt.Errorf("key-encryption key: %w", err)
		}
		b, err := os.ReadFile(kekFile)
		if err != nil {
			return err
		}
		kek = strings.TrimSpace(string(b))
	}
	// The operator's Secrets (deploy/k8s/README.md, "What you supply") and
	// the site settings the prod overlay says to change.
	h.secrets = map[string]string{
		"streamgate-database/url":             dbURL,
		"streamgate-redis/url":                redis.URL(),
		"streamgate-s3/AWS_ACCESS_KEY_ID":     s3.AccessKey,
		"streamgate-s3/AWS_SECRET_ACCESS_KEY": s3.SecretKey,
		"streamgate-chains/chains":            fmt.Sprintf("%d=%s", devchain.ChainID, chain.RPCURL()),
		"streamgate-kek/kek":                  kek,
		"streamgate-operator-tokens/tokens":   tokens,
	}
	h.config = map[string]string{
		"public-url":     public,
		"allowed-origin": public,
		"trusted-proxy":  "127.0.0.1/32",
		"blob-url":       s3.URL("media/"),
		"otlp-endpoint":  os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"),
	}
	// What a cluster on one machine adds to the manifests' flags: its
	// tests kill instances and wait out their registrations, and deliver
	// webhooks to a receiver on loopback.
	local := []string{"--registry-ttl=" + registryTTL.String(), "--log-level=" + *childLog, "--loopback-webhooks"}
	engineLocal := []string{"--log-level=" + *childLog}

	start := func(pods []planPod, kind string, extra []string) error {
		var starts []func() error
		for _, pod := range pods {
			args, env, err := h.process(pod)
			if err != nil {
				return err
			}
			at := 1 // after `serve`, or after `embedded etcd|nats`
			if kind != "service" {
				at = 2
			}
			args = slices.Insert(args, at, extra...)
			_, svc := pod.kind()
			starts = append(starts, func() error {
				_, err := c.spawn(ctx, pod.Name, kind, svc, env, args...)
				return err
			})
		}
		return together(starts)
	}
	// Members of a static cluster start together: each waits for a quorum.
	logger.Info("starting etcd and NATS", "etcd", len(etcdPods), "nats", len(natsPods))
	if err := together([]func() error{
		func() error { return start(etcdPods, "etcd", engineLocal) },
		func() error { return start(natsPods, "nats", engineLocal) },
	}); err != nil {
		return err
	}
	// One instance of every service first, then the others: the first
	// ones create the streams, buckets and tables the rest find.
	for _, first := range []bool{true, false} {
		var pods []planPod
		for _, pod := range servicePods {
			if (pod.Index == 0) == first {
				pods = append(pods, pod)
			}
		}
		logger.Info("starting services", "processes", len(pods))
		if err := start(pods, "service", local); err != nil {
			return err
		}
	}

	var etcdURLs, natsURLs, gatewayURLs []string
	for _, pod := range etcdPods {
		a, err := h.serviceAddr("etcd", pod)
		if err != nil {
			return err
		}
		etcdURLs = append(etcdURLs, "https://"+a)
	}
	for _, pod := range natsPods {
		a, err := h.serviceAddr("nats", pod)
		if err != nil {
			return err
		}
		natsURLs = append(natsURLs, "nats://"+a)
	}
	for _, g := range gateways {
		gatewayURLs = append(gatewayURLs, "http://"+g)
	}
	state := clusterState{
		Plan: p.Source, Public: public, Gateways: gatewayURLs, Etcd: etcdURLs, NATS: natsURLs,
		Postgres: dbURL, Redis: redis.URL(), S3: s3.Endpoint, S3Dir: filepath.Join(s3.Dir, "data"), BlobURL: s3.URL("media/"),
		Chain: chain.RPCURL(), ChainID: devchain.ChainID, Pass: chain.PassAddress().Hex(),
		LocalFlags: local, Processes: c.list(),
	}
	statePath := filepath.Join(dir, "cluster.json")
	if err := writeJSON(statePath, state); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "plan:      %s (+ %s)\n", p.Source, strings.Join(local, " "))
	fmt.Fprintf(stdout, "public:    %s (balances %d gateways)\n", public, len(gatewayURLs))
	for i, g := range gatewayURLs {
		fmt.Fprintf(stdout, "gateway-%c: %s\n", 'a'+i, g)
	}
	fmt.Fprintf(stdout, "etcd:      %s\n", strings.Join(etcdURLs, ","))
	fmt.Fprintf(stdout, "nats:      %s\n", strings.Join(natsURLs, ","))
	fmt.Fprintf(stdout, "postgres:  %s\n", dbURL)
	fmt.Fprintf(stdout, "redis:     %s\n", redis.URL())
	fmt.Fprintf(stdout, "s3:        %s (bucket %s)\n", s3.Endpoint, s3.Bucket)
	fmt.Fprintf(stdout, "chain:     %s (id %d)\n", chain.RPCURL(), devchain.ChainID)
	fmt.Fprintf(stdout, "operator:  %s\n", operator)
	fmt.Fprintf(stdout, "state:     %s (every process with its pid and log)\n", statePath)
	fmt.Fprintln(stdout, "streamgate cluster ready")

	if !*noSeed {
		seed := seedConfig{Server: public, PublicURL: public, Pass: chain.PassAddress(), Dir: filepath.Join(dir, "seed")}
		go func() {
			if _, err := seedDemo(ctx, seed, stdout, logger.With("component", "seed")); err != nil && ctx.Err() == nil {
				logger.Warn("seeding the demo video failed; the cluster runs on without it", "err", err)
			}
		}()
	}
	<-ctx.Done()
	logger.Info("stopping the cluster")
	return nil
}

// clusterOperatorTokens is the value of the operator tokens Secret, as
// its file holds it (a name:token a line): the caller's
// $STREAMGATE_OPERATOR_TOKENS, or one token ($STREAMGATE_OPERATOR_TOKEN or
// a new one) named "cluster"; and how to say it on the console.
func clusterOperatorTokens() (value, say string, err error) {
	if v := os.Getenv(operatortokens.EnvTokens); v != "" {
		if _, err := operatortokens.ParseList(v); err != nil {
			return "", "", fmt.Errorf("$%s: %w", operatortokens.EnvTokens, err)
		}
		return strings.ReplaceAll(v, ",", "\n"), "the tokens of $" + operatortokens.EnvTokens, nil
	}
	token := os.Getenv(operatortokens.EnvToken)
	if token == "" {
		token = randomToken()
	}
	value = "cluster:" + token
	if _, err := operatortokens.ParseList(value); err != nil {
		return "", "", fmt.Errorf("$%s: %w", operatortokens.EnvToken, err)
	}
	return value, token + " (send as Authorization: Bearer)", nil
}

// postgresDir is where the cluster's PostgreSQL keeps its data. As root the
// server runs as the postgres user, which must be able to reach the
// directory; when a parent of the data dir is private (a home directory),
// it lives in the system's temp directory instead, under a name derived
// from the data dir, so a restart finds it again.
func postgresDir(dir string, logger *slog.Logger) string {
	want := filepath.Join(dir, "postgres")
	if os.Getuid() != 0 {
		return want
	}
	for p := dir; ; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o001 == 0 {
			sum := sha256.Sum256([]byte(dir))
			alt := filepath.Join(os.TempDir(), "streamgate-cluster-"+hex.EncodeToString(sum[:6]), "postgres")
			logger.Info("PostgreSQL keeps its data outside the data dir: the postgres user cannot reach it", "dir", alt, "private", p)
			return alt
		}
		if p == filepath.Dir(p) {
			return want
		}
	}
}

// together runs fs at once and returns the first error.
func together(fs []func() error) error {
	errs := make([]error, len(fs))
	var wg sync.WaitGroup
	for i, f := range fs {
		wg.Go(func() { errs[i] = f() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// clusterState is cluster.json: what a test or an operator needs to reach
// and to kill each part.
type clusterState struct {
	Plan       string        `json:"plan"`        // the overlay the processes run
	LocalFlags []string      `json:"local_flags"` // what the launcher adds to the manifests' serve flags
	Public     string        `json:"public"`
	Gateways   []string      `json:"gateways"`
	Etcd       []string      `json:"etcd"`
	NATS       []string      `json:"nats"`
	Postgres   string        `json:"postgres"`
	Redis      string        `json:"redis"`
	S3         string        `json:"s3"`
	S3Dir      string        `json:"s3_dir"` // the S3 server's files, one folder per bucket
	BlobURL    string        `json:"blob_url"`
	Chain      string        `json:"chain"`
	ChainID    uint64        `json:"chain_id"`
	Pass       string        `json:"pass"`
	Processes  []processInfo `json:"processes"`
}

type processInfo struct {
	Name    string `json:"name"`              // e.g. "transcoder-b", "nats-2"
	Kind    string `json:"kind"`              // etcd, nats or service
	Service string `json:"service,omitempty"` // for kind service
	PID     int    `json:"pid"`
	Addr    string `json:"addr"`            // the service's mesh address, the member's client URL
	Admin   string `json:"admin,omitempty"` // a service process's admin listener (/metrics, health, reflection)
	Log     string `json:"log"`
}

// cluster owns the child processes and the order they stop in.
type cluster struct {
	dir, self, logLevel string
	logger              *slog.Logger

	mu    sync.Mutex
	procs []*child
	stops []func()
}

type child struct {
	info   processInfo
	cmd    *exec.Cmd
	exited chan struct{}
}

func (c *cluster) onStop(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stops = append(c.stops, f)
}

func (c *cluster) list() []processInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []processInfo
	for _, p := range c.procs {
		out = append(out, p.info)
	}
	return out
}

// spawn starts a child of this binary and waits for its "ready" line; the
// lines before it name its addresses (a service's "admin" line its admin
// listener's). A child's stderr goes to its log.
// Children run in their own process group (a Ctrl-C reaches the launcher
// only, which stops them in order) and die with the launcher (Pdeathsig).
func (c *cluster) spawn(ctx context.Context, name, kind, svc string, env []string, args ...string) (*child, error) {
	logPath := filepath.Join(c.dir, "logs", name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(c.self, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ch := &child{info: processInfo{Name: name, Kind: kind, Service: svc, PID: cmd.Process.Pid, Log: logPath}, cmd: cmd, exited: make(chan struct{})}
	c.mu.Lock()
	c.procs = append(c.procs, ch)
	c.mu.Unlock()

	type addrs struct{ addr, admin string }
	ready := make(chan addrs, 1)
	go func() {
		sc := bufio.NewScanner(out)
		var addr, admin string
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 1 && f[0] == "ready":
				ready <- addrs{addr, admin}
			case len(f) == 2 && f[0] == node.AdminKey:
				admin = f[1]
			case len(f) == 2 && addr == "":
				addr = f[1] // "etcd URL", "nats URL" or "<service> host:port"
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() {
		err := cmd.Wait()
		logFile.Close()
		close(ch.exited)
		if ctx.Err() == nil {
			c.logger.Warn("process exited", "name", name, "pid", ch.info.PID, "err", err, "log", logPath)
		}
	}()
	select {
	case a := <-ready:
		c.mu.Lock()
		ch.info.Addr, ch.info.Admin = a.addr, a.admin
		c.mu.Unlock()
		return ch, nil
	case <-ch.exited:
		return nil, fmt.Errorf("%s exited before ready; its log %s ends:\n%s", name, logPath, tail(logPath, 20))
	case <-time.After(2 * time.Minute):
		return nil, fmt.Errorf("%s not ready within 2 minutes; see %s", name, logPath)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// stop stops the services (SIGTERM: they deregister and drain), then the
// NATS and etcd members, then the rest in reverse order of start.
func (c *cluster) stop() {
	c.mu.Lock()
	procs := append([]*child(nil), c.procs...)
	stops := append([]func(){}, c.stops...)
	c.mu.Unlock()
	for _, kind := range []string{"service", "nats", "etcd"} {
		var wg sync.WaitGroup
		for _, p := range procs {
			if p.info.Kind != kind {
				continue
			}
			wg.Go(func() {
				_ = p.cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-p.exited:
				case <-time.After(30 * time.Second):
					_ = p.cmd.Process.Kill()
					<-p.exited
				}
			})
		}
		wg.Wait()
	}
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// balancer is the load balancer in front of the gateways, at layer 4 as a
// Kubernetes Service or a cloud TCP balancer would be: each connection goes
// to the next gateway that accepts one, so a dead gateway costs a refused
// dial, not a failed request.
type balancer struct {
	ln       net.Listener
	backends []string
	next     uint64
	mu       sync.Mutex
	logger   *slog.Logger
}

func listenBalancer(addr string, backends []string, logger *slog.Logger) (*balancer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("balancer on %s: %w", addr, err)
	}
	b := &balancer{ln: ln, backends: backends, logger: logger}
	go b.serve()
	return b, nil
}

func (b *balancer) Close() error { return b.ln.Close() }

func (b *balancer) serve() {
	for {
		conn, err := b.ln.Accept()
		if err != nil {
			return
		}
		go b.proxy(conn)
	}
}

func (b *balancer) proxy(conn net.Conn) {
	defer conn.Close()
	b.mu.Lock()
	start := b.next
	b.next++
	b.mu.Unlock()
	var up net.Conn
	for i := range len(b.backends) {
		addr := b.backends[(int(start)+i)%len(b.backends)]
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			up = c
			break
		}
	}
	if up == nil {
		b.logger.Warn("no gateway accepts connections", "gateways", b.backends)
		return
	}
	defer up.Close()
	done := make(chan error, 2)
	pipe := func(dst, src net.Conn) {
		_, err := io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok && err == nil {
			_ = tc.CloseWrite() // pass the half-close on
		}
		done <- err
	}
	go pipe(up, conn)
	go pipe(conn, up)
	if err := <-done; err != nil {
		// A reset (a killed gateway) ends both directions at once.
		conn.Close()
		up.Close()
	}
	<-done
}
