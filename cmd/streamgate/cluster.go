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

// runCluster runs the platform as a production cluster is laid out, on one
// machine: a 3-member etcd cluster and a 3-server NATS cluster (each member
// its own process, streams and buckets R3), PostgreSQL, Redis as the cache
// backend, an S3 server as the media store, and --instances processes of
// every service, each with its own data dir, behind a TCP balancer on
// --http-addr that stands in for the load balancer in front of the
// gateways. Every process can be killed on its own; cluster.json in the
// data dir names them all with their pids, for the cluster test and for
// anyone trying failures by hand.
func runCluster(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", ".streamgate-cluster", "where every process of the cluster keeps its data, logs (logs/) and cluster.json")
	httpAddr := fs.String("http-addr", "127.0.0.1:8080", "address of the balancer in front of the gateways: the public URL")
	instances := fs.Int("instances", 2, "processes of each service (1 to 5)")
	chainPort := fs.Int("chain-port", 8545, "loopback port of the dev chain's JSON-RPC; 0 picks a free one")
	registryTTL := fs.Duration("registry-ttl", 5*time.Second, "etcd lease TTL of each service registration: how long a killed instance stays listed")
	childLog := fs.String("log-level", "WARN", "log level of the cluster's processes (their logs are in <data-dir>/logs)")
	noSeed := fs.Bool("no-seed", false, "do not seed the demo video")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 0 || *instances < 1 || *instances > 5 {
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
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("component", "cluster")
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, d := range []string{"logs", "services"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o750); err != nil {
			return err
		}
	}
	topo, err := loadTopology(dir, *instances)
	if err != nil {
		return err
	}
	c := &cluster{dir: dir, self: self, logger: logger, logLevel: *childLog}
	defer c.stop()
	// The public address first: the processes started next take random
	// loopback ports, and one could take it meanwhile.
	lb, err := listenBalancer(*httpAddr, topo.Gateways[:*instances], logger)
	if err != nil {
		return err
	}
	c.onStop(func() { _ = lb.Close() })

	// Shared engines first: everything after depends on them.
	logger.Info("starting PostgreSQL, Redis and the S3 server")
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

	// The certificates of every service, etcd and NATS, made once and
	// reused on restart; each process finds its own in tls/<name>/.
	tlsDir := filepath.Join(dir, "tls")
	if err := meshtls.EnsureDev(tlsDir, meshtls.DefaultTrustDomain, slices.Concat(node.Names, node.Engines)); err != nil {
		return fmt.Errorf("mesh certificates: %w", err)
	}
	// Members of a static cluster start together: each waits for a quorum.
	logger.Info("starting 3 etcd members and 3 NATS servers")
	var initial, routes []string
	for _, m := range topo.Etcd {
		initial = append(initial, m.Name+"=https://"+m.Peer)
	}
	for _, n := range topo.NATS {
		routes = append(routes, "nats-route://"+n.Route)
	}
	var starts []func() error
	for _, m := range topo.Etcd {
		starts = append(starts, func() error {
			_, err := c.spawn(ctx, m.Name, "etcd", "", nil, "embedded", "etcd", "--data-dir", filepath.Join(dir, m.Name), "--name", m.Name,
				"--client-addr", m.Client, "--peer-addr", m.Peer, "--initial-cluster", strings.Join(initial, ","), "--log-level", *childLog,
				"--tls-dir", filepath.Join(tlsDir, "etcd"))
			return err
		})
	}
	for _, n := range topo.NATS {
		_, port, _ := net.SplitHostPort(n.Client)
		_, routePort, _ := net.SplitHostPort(n.Route)
		starts = append(starts, func() error {
			_, err := c.spawn(ctx, n.Name, "nats", "", nil, "embedded", "nats", "--data-dir", filepath.Join(dir, n.Name), "--name", n.Name,
				"--port", port, "--cluster", "streamgate", "--route-port", routePort, "--routes", strings.Join(routes, ","), "--log-level", *childLog,
				"--tls-dir", filepath.Join(tlsDir, "nats"))
			return err
		})
	}
	if err := together(starts); err != nil {
		return err
	}
	etcdURLs, natsURLs := topo.etcdURLs(), topo.natsURLs()

	public := "http://" + *httpAddr
	chain, err := devchain.New(ctx, devchain.Config{HTTPPort: *chainPort, CORSOrigins: []string{public}}, logger.With("component", "devchain"))
	if err != nil {
		return fmt.Errorf("dev chain: %w", err)
	}
	c.onStop(chain.Close)

	// The token goes through the environment, not argv, where ps shows it.
	env := s3.Env()
	token := os.Getenv(operatortokens.EnvToken)
	operator := token + " (send as Authorization: Bearer)"
	switch {
	case os.Getenv(operatortokens.EnvTokens) != "":
		operator = "the tokens of $" + operatortokens.EnvTokens // inherited by every process
	case token == "":
		token = randomToken()
		operator = token + " (send as Authorization: Bearer)"
		env = append(env, operatortokens.EnvToken+"="+token)
	}
	// One key-encryption key for every process, made once: auth's and the
	// worker's secrets are sealed under it in the shared stores.
	kekArgs := []string{}
	if os.Getenv(envKEK) == "" {
		kekFile, err := devKEKFile(dir)
		if err != nil {
			return fmt.Errorf("key-encryption key: %w", err)
		}
		kekArgs = []string{"--kek-file", kekFile}
	}
	common := []string{"serve", "--mesh-tls-dir", tlsDir,
		"--etcd", strings.Join(etcdURLs, ","), "--nats", strings.Join(natsURLs, ","), "--nats-replicas", "3",
		"--database-url", dbURL, "--blob-url", s3.URL("media/"),
		"--cache-backend", "redis", "--redis-url", redis.URL(),
		"--public-url", public, "--allowed-origin", public,
		"--chain", fmt.Sprintf("%d=%s", devchain.ChainID, chain.RPCURL()),
		"--chain-name", fmt.Sprintf("%d=StreamGate dev chain", devchain.ChainID),
		"--demo-nft", fmt.Sprintf("%d=%s", devchain.ChainID, chain.PassAddress().Hex()),
		"--publish-chain-rpc", "--dev-mode",
		"--registry-ttl", registryTTL.String(), "--transcode-workers", "1", "--log-level", *childLog,
		"--admin-addr", "127.0.0.1:0", // many processes on one machine: random ports
	}
	common = append(common, kekArgs...)
	// One instance of every service first, then the others: the first
	// ones create the streams, buckets and tables the rest find.
	for i := range *instances {
		suffix := string(rune('a' + i))
		logger.Info("starting one instance of every service", "instance", suffix)
		starts = starts[:0]
		for _, svc := range node.Names {
			name := svc + "-" + suffix
			args := append(slices.Clone(common), "--data-dir", filepath.Join(dir, "services", name))
			if svc == "gateway" {
				args = append(args, "--http-addr", topo.Gateways[i])
			}
			args = append(args, svc)
			starts = append(starts, func() error {
				_, err := c.spawn(ctx, name, "service", svc, env, args...)
				return err
			})
		}
		if err := together(starts); err != nil {
			return err
		}
	}

	var gateways []string
	for i := range *instances {
		gateways = append(gateways, "http://"+topo.Gateways[i])
	}

	state := clusterState{
		Public: public, Gateways: gateways, Etcd: etcdURLs, NATS: natsURLs,
		Postgres: dbURL, Redis: redis.URL(), S3: s3.Endpoint, S3Dir: filepath.Join(s3.Dir, "data"), BlobURL: s3.URL("media/"),
		Chain: chain.RPCURL(), ChainID: devchain.ChainID, Pass: chain.PassAddress().Hex(),
		Processes: c.list(),
	}
	statePath := filepath.Join(dir, "cluster.json")
	if err := writeJSON(statePath, state); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "public:    %s (balances %d gateways)\n", public, len(gateways))
	for i, g := range gateways {
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

// topology is the cluster's fixed addresses, chosen on the first start and
// kept in the data dir: etcd members remember their peers' addresses, so a
// restart must find them where they were.
type topology struct {
	Etcd     []etcdMember `json:"etcd"`
	NATS     []natsMember `json:"nats"`
	Gateways []string     `json:"gateways"`
}

type etcdMember struct{ Name, Client, Peer string }
type natsMember struct{ Name, Client, Route string }

func (t topology) etcdURLs() []string {
	var u []string
	for _, m := range t.Etcd {
		u = append(u, "https://"+m.Client)
	}
	return u
}

func (t topology) natsURLs() []string {
	var u []string
	for _, n := range t.NATS {
		u = append(u, "nats://"+n.Client)
	}
	return u
}

func loadTopology(dir string, instances int) (topology, error) {
	path := filepath.Join(dir, "topology.json")
	var t topology
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &t); err != nil {
			return t, fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return t, err
	}
	var err error
	addr := func() string {
		if err != nil {
			return ""
		}
		var l net.Listener
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return ""
		}
		defer l.Close()
		return l.Addr().String()
	}
	for i := len(t.Etcd); i < 3; i++ {
		t.Etcd = append(t.Etcd, etcdMember{Name: fmt.Sprintf("etcd-%d", i+1), Client: addr(), Peer: addr()})
	}
	for i := len(t.NATS); i < 3; i++ {
		t.NATS = append(t.NATS, natsMember{Name: fmt.Sprintf("nats-%d", i+1), Client: addr(), Route: addr()})
	}
	for len(t.Gateways) < instances {
		t.Gateways = append(t.Gateways, addr())
	}
	if err != nil {
		return t, err
	}
	return t, writeJSON(path, t)
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
	Public    string        `json:"public"`
	Gateways  []string      `json:"gateways"`
	Etcd      []string      `json:"etcd"`
	NATS      []string      `json:"nats"`
	Postgres  string        `json:"postgres"`
	Redis     string        `json:"redis"`
	S3        string        `json:"s3"`
	S3Dir     string        `json:"s3_dir"` // the S3 server's files, one folder per bucket
	BlobURL   string        `json:"blob_url"`
	Chain     string        `json:"chain"`
	ChainID   uint64        `json:"chain_id"`
	Pass      string        `json:"pass"`
	Processes []processInfo `json:"processes"`
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
