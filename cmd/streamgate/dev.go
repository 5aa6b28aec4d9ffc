package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/streamgate/streamgate/internal/devchain"
	"github.com/streamgate/streamgate/internal/etcdserver"
	"github.com/streamgate/streamgate/internal/meshtls"
	"github.com/streamgate/streamgate/internal/natsserver"
	"github.com/streamgate/streamgate/internal/operatortokens"
	"github.com/streamgate/streamgate/node"
)

// runDev runs the whole platform on one machine: embedded etcd and NATS
// JetStream with their data under --data-dir, and all nine services on
// loopback, each registered in etcd and calling the others through
// discovery exactly as separate processes would. Once it is ready, unless
// --no-seed, it seeds a gated demo video in the background (seed.go).
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	stdout = &lockedWriter{w: stdout}
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var m meshFlags
	m.register(fs)
	dataDir := fs.String("data-dir", ".streamgate", "where embedded etcd, NATS and the services keep their data")
	etcdAddr := fs.String("etcd-addr", "127.0.0.1:0", "embedded etcd client address (random port by default)")
	natsPort := fs.Int("nats-port", -1, "embedded NATS port (random by default)")
	chainPort := fs.Int("chain-port", 8545, "loopback port of the dev chain's JSON-RPC (streamgate dev-mint's default --rpc); 0 picks a free one")
	noSeed := fs.Bool("no-seed", false, "do not seed the demo video (a generated clip gated by the demo NFT, uploaded as the demo wallet)")
	insecurePublic := fs.Bool("insecure-public-dev", false, "let dev listen on non-loopback addresses (--http-addr, --listen-host, --addr, --etcd-addr): INSECURE, anyone who reaches it can act as any wallet through the dev identity header")
	logFile := fs.String("log-file", "", "`file` the full log goes to (default <data-dir>/dev.log); the console shows the summary, notable events and warnings")
	verbose := fs.Bool("v", false, "log everything on the console too")
	if err := parseWithConfig(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	if *logFile == "" {
		*logFile = filepath.Join(*dataDir, "dev.log")
	}
	logger, closeLog, err := devLogger(&m, stderr, *logFile, *verbose)
	if err != nil {
		return err
	}
	defer closeLog()
	if err := devBindCheck(&m, *etcdAddr, *insecurePublic); err != nil {
		return err
	}
	if *insecurePublic {
		logger.Warn("--insecure-public-dev: dev may listen beyond loopback and trusts the dev identity header from anyone who reaches it")
	}
	if err := os.MkdirAll(*dataDir, 0o750); err != nil {
		return err
	}

	if m.kekFile == "" && os.Getenv(envKEK) == "" {
		var err error
		if m.kekFile, err = devKEKFile(*dataDir); err != nil {
			return fmt.Errorf("key-encryption key: %w", err)
		}
	}
	cfg, err := m.nodeConfig(node.Names, *dataDir)
	if err != nil {
		return err
	}
	if cfg.MeshTLSDir == "" && !m.insecureMesh {
		// Made once, reused on restart: a CA and the certificates of each
		// service, etcd and NATS, as a deployment mounts them.
		cfg.MeshTLSDir = filepath.Join(*dataDir, "tls")
		if err := meshtls.EnsureDev(cfg.MeshTLSDir, cfg.TrustDomain, slices.Concat(node.Names, node.Engines)); err != nil {
			return fmt.Errorf("mesh certificates: %w", err)
		}
	}
	// etcd is configured as a deployment's: TLS, client certificates of
	// the mesh CA.
	etcdCfg := etcdserver.Config{Dir: filepath.Join(*dataDir, "etcd"), ClientAddr: *etcdAddr, Name: "streamgate-dev"}
	if cfg.MeshTLSDir != "" {
		etcdCfg.TLSDir = filepath.Join(cfg.MeshTLSDir, "etcd")
	}
	etcd, err := etcdserver.Start(ctx, etcdCfg, logger.With("component", "etcd"))
	if err != nil {
		return fmt.Errorf("embedded etcd: %w", err)
	}
	defer etcd.Close()
	// NATS too: TLS, and a user per service that may publish only its
	// own events.
	natsCfg := natsserver.Config{Dir: filepath.Join(*dataDir, "nats"), Port: *natsPort}
	if cfg.MeshTLSDir != "" {
		if natsCfg.TLS, err = natsserver.MeshTLS(filepath.Join(cfg.MeshTLSDir, natsserver.Service), cfg.TrustDomain, node.Names, logger.With("component", "nats")); err != nil {
			return fmt.Errorf("embedded nats: %w", err)
		}
	}
	nats, err := natsserver.Start(ctx, natsCfg, logger.With("component", "nats"))
	if err != nil {
		return fmt.Errorf("embedded nats: %w", err)
	}
	defer nats.Shutdown()

	chain, err := devchain.New(ctx, devchain.Config{HTTPPort: *chainPort, CORSOrigins: []string{m.public()}}, logger.With("component", "devchain"))
	if err != nil {
		return fmt.Errorf("dev chain: %w", err)
	}
	defer chain.Close()

	m.watchTokens(ctx, logger)
	cfg.EtcdEndpoints = []string{etcd.Endpoint()}
	cfg.NATSURL = nats.ClientURL()
	cfg.DevMode = true
	cfg.Settings.DevMode = true
	if cfg.Settings.Chains == nil {
		cfg.Settings.Chains = map[uint64]string{}
	}
	if _, ok := cfg.Settings.Chains[devchain.ChainID]; !ok {
		cfg.Settings.Chains[devchain.ChainID] = chain.RPCURL()
	}
	cfg.Settings.ChainNames = map[uint64]string{devchain.ChainID: "StreamGate dev chain"}
	cfg.Settings.DemoNFTs = map[uint64]string{devchain.ChainID: chain.PassAddress().Hex()}
	cfg.Settings.PublishChainRPC = true
	if len(cfg.Settings.AllowedOrigins) == 0 {
		cfg.Settings.AllowedOrigins = []string{m.public()}
	}
	// A new operator token each run, named "dev", unless the file or the
	// environment names some.
	operator := "the tokens of --operator-tokens-file or the environment"
	if cfg.Settings.OperatorTokens == nil {
		tok := randomToken()
		set, err := operatortokens.New(map[string]string{"dev": tok})
		if err != nil {
			return err
		}
		cfg.Settings.OperatorTokens = set
		operator = tok + " (send as Authorization: Bearer)"
	}
	// The seed runs after the ready line, so whoever waits for it is not
	// slowed; it is stopped and waited for before dev returns.
	seedCtx, stopSeed := context.WithCancel(ctx)
	var seeding sync.WaitGroup
	defer seeding.Wait()
	defer stopSeed()
	cfg.OnReady = func(addrs map[string]string) {
		fmt.Fprintf(stdout, "gateway:  http://%s\n", addrs["gateway"])
		fmt.Fprintf(stdout, "admin:    http://%s (metrics, health, full gRPC reflection)\n", addrs[node.AdminKey])
		fmt.Fprintf(stdout, "etcd:     %s\n", etcd.Endpoint())
		fmt.Fprintf(stdout, "nats:     %s\n", nats.ClientURL())
		fmt.Fprintf(stdout, "chain:    %s (id %d)\n", chain.RPCURL(), devchain.ChainID)
		fmt.Fprintf(stdout, "demo NFT: ERC-721 %s, ERC-1155 %s; demo wallet %s\n", chain.PassAddress(), chain.ItemsAddress(), chain.DemoWallet())
		fmt.Fprintf(stdout, "operator: %s\n", operator)
		join := " --insecure-mesh"
		if cfg.MeshTLSDir != "" {
			join = " --mesh-tls-dir " + cfg.MeshTLSDir
		}
		fmt.Fprintf(stdout, "join with: streamgate serve --etcd %s --nats %s%s <service...>\n", etcd.Endpoint(), nats.ClientURL(), join)
		fmt.Fprintf(stdout, "logs:     %s\n", *logFile)
		fmt.Fprintln(stdout, "streamgate dev ready")
		seeding.Go(func() { followNotable(seedCtx, nats.ClientURL(), cfg.MeshTLSDir, cfg.TrustDomain, stdout, logger) })
		if *noSeed {
			return
		}
		seed := seedConfig{Server: "http://" + addrs["gateway"], PublicURL: m.public(), Pass: chain.PassAddress(), Dir: filepath.Join(*dataDir, "seed")}
		seeding.Go(func() {
			log := logger.With("component", "seed")
			_, err := seedDemo(seedCtx, seed, stdout, log)
			switch {
			case err == nil, seedCtx.Err() != nil:
			case errors.Is(err, errNoFFmpeg):
				log.Warn(err.Error())
			default:
				log.Warn("seeding the demo video failed; dev runs on without it", "err", err)
			}
		})
	}
	return node.Run(ctx, cfg, logger)
}

// randomToken makes a dev operator credential, new each run unless
// --operator-tokens-file or the environment sets some.
func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// devBindCheck refuses, unless insecure, a dev whose gateway, services or
// embedded etcd would listen beyond loopback: dev accepts the dev identity
// header (any caller may claim any wallet) and runs an unauthenticated
// etcd, so other machines must not reach it.
func devBindCheck(m *meshFlags, etcdAddr string, insecure bool) error {
	if insecure {
		return nil
	}
	addrs := map[string]string{"gateway": m.httpAddr, "etcd": etcdAddr}
	for k, v := range m.addrs {
		addrs[k] = v
	}
	if err := loopbackOnly(m.listenHost, addrs); err != nil {
		return fmt.Errorf("streamgate dev %w; pass --insecure-public-dev to run it there anyway", err)
	}
	return nil
}
