// Package node is StreamGate's composition root: it builds the nine
// services by name from explicit dependencies (Build) and runs one or
// several of them in one process (Run), each on its own listener,
// registered in etcd, calling the others through discovery, publishing on
// the event bus. `streamgate serve` and `streamgate dev` are thin wrappers
// around Run; nothing below this package imports it.
package node

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/streamgate/streamgate/internal/admin"
	"github.com/streamgate/streamgate/internal/buildinfo"
	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/logship"
	"github.com/streamgate/streamgate/internal/mesh"
	"github.com/streamgate/streamgate/internal/meshtls"
	"github.com/streamgate/streamgate/internal/registry"
	"github.com/streamgate/streamgate/internal/server"
	"github.com/streamgate/streamgate/internal/telemetry"
)

// Config says what to run and where the shared infrastructure is.
type Config struct {
	// Services to run, by short name (Names).
	Services []string
	// Addrs maps a service to its listen address; a service not listed
	// listens on ListenHost with a random port.
	Addrs map[string]string
	// ListenHost is the default host to listen on; default 127.0.0.1.
	ListenHost string
	// AdvertiseHost replaces an unspecified listen host (0.0.0.0, ::) in
	// the address registered in etcd.
	AdvertiseHost string
	// EtcdEndpoints are the etcd client URLs.
	EtcdEndpoints []string
	// NATSURL is the NATS server URL.
	NATSURL string
	// NATSReplicas is how many copies JetStream keeps of each stream and
	// key-value bucket the services create: 1 (the default) on a single
	// server, 3 in a cluster. Existing streams keep theirs (see
	// events.Bus.EnsureStream).
	NATSReplicas int
	// RegistryTTL is the lease TTL; default 10s.
	RegistryTTL time.Duration
	// DrainTimeout bounds the graceful drain of each server; default 15s.
	DrainTimeout time.Duration
	// OTLPEndpoint is an OTLP/HTTP collector every instance (and the mesh
	// client) exports its spans to, e.g. "http://127.0.0.1:4318"; empty:
	// no trace export (see telemetry.Config.OTLPEndpoint).
	OTLPEndpoint string
	// DevMode accepts the dev identity header in place of a session
	// (streamgate dev only).
	DevMode bool
	// MeshTLSDir holds the mesh's certificates (see meshtls): each
	// service's tls.crt, tls.key and ca.crt are in MeshTLSDir/<service>/
	// when that holds them, else (one service per process, e.g. a
	// Kubernetes Secret mounted there) in MeshTLSDir itself. With it, every
	// service's listener serves mutual TLS, except the gateway's public
	// one, and every call between services presents the caller's
	// certificate and checks the callee's. Empty: cleartext h2c, no
	// authentication between services.
	MeshTLSDir string
	// TrustDomain is the trust domain the mesh certificates name; default
	// meshtls.DefaultTrustDomain.
	TrustDomain string
	// Settings carries per-service settings.
	Settings Settings
	// AdminAddr is the listen address of the process's admin listener
	// (internal/admin: /metrics, gRPC health, /healthz, /readyz, full gRPC
	// reflection); default 127.0.0.1:0, a random loopback port. Its
	// advertised address is registered with every instance, for the
	// monitor's scrapes.
	AdminAddr string
	// OnReady, when set, is called once every service is registered and
	// serving, with each service's bound address and, under AdminKey, the
	// admin listener's.
	OnReady func(addrs map[string]string)
}

// AdminKey is the key of the admin listener's address in the map OnReady
// gets; no service has this name.
const AdminKey = "admin"

// Run starts the services and blocks until ctx is done, then shuts them
// down: deregister first (so no new calls arrive), then drain.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	if len(cfg.Services) == 0 {
		return errors.New("no services to run")
	}
	for _, s := range cfg.Services {
		if !slices.Contains(Names, s) {
			return fmt.Errorf("unknown service %q (want some of %s)", s, strings.Join(Names, ", "))
		}
	}
	if cfg.ListenHost == "" {
		cfg.ListenHost = "127.0.0.1"
	}
	if cfg.RegistryTTL <= 0 {
		cfg.RegistryTTL = 10 * time.Second
	}
	if cfg.AdminAddr == "" {
		cfg.AdminAddr = "127.0.0.1:0"
	}
	if cfg.NATSReplicas == 0 {
		cfg.NATSReplicas = 1
	}
	if len(cfg.EtcdEndpoints) == 0 || cfg.NATSURL == "" {
		return errors.New("etcd endpoints and a NATS URL are required")
	}
	sources, err := loadMeshTLS(cfg, logger)
	if err != nil {
		return err
	}
	version := buildinfo.Read().Version

	etcdTLS, err := etcdClientTLS(cfg, sources)
	if err != nil {
		return err
	}
	etcd, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.EtcdEndpoints,
		DialTimeout: 5 * time.Second,
		Logger:      quietEtcdLogger(),
		TLS:         etcdTLS,
	})
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer etcd.Close()

	// The mesh client and the event bus are shared by every service of
	// this process, so their client and consumer spans and metrics are
	// recorded under the node's own identity.
	nodeTel, err := telemetry.New(ctx, telemetry.Config{ServiceName: "streamgate-node", InstanceID: randomID(), Version: version, OTLPEndpoint: cfg.OTLPEndpoint})
	if err != nil {
		return err
	}
	defer func() { _ = nodeTel.Shutdown(context.Background()) }()

	// The admin listener outlives the services: it reports NOT_SERVING
	// through their drain and closes last.
	adm, err := admin.New(cfg.AdminAddr, logger.With("component", "admin"))
	if err != nil {
		return err
	}
	if err := adm.Start(ctx); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = adm.Shutdown(sctx)
	}()
	adm.Add(admin.Target{Name: "streamgate-node", Metrics: nodeTel.Gatherer()})

	// With mesh TLS each service connects to NATS as itself, with its own
	// certificate: NATS lets it publish only the events its contracts name
	// it the publisher of. Without, the services share one connection.
	connectBus := func(name string) (*events.Bus, error) {
		opts := []events.Option{events.WithPropagator(nodeTel.Propagator), events.WithTracerProvider(nodeTel.TracerProvider),
			events.WithReplicas(cfg.NATSReplicas), events.WithName("streamgate-" + name)}
		if src := sources[name]; src != nil {
			opts = append(opts, events.WithTLS(src.ClientConfig(natsService)))
		}
		bus, err := events.Connect(ctx, cfg.NATSURL, logger, opts...)
		if err != nil {
			return nil, fmt.Errorf("nats: %w", err)
		}
		return bus, nil
	}
	buses := make(map[string]*events.Bus, len(cfg.Services))
	var opened []*events.Bus
	defer func() {
		for _, b := range opened {
			b.Close()
		}
	}()
	for _, name := range cfg.Services {
		if sources == nil && len(opened) == 1 {
			buses[name] = opened[0]
			continue
		}
		b, err := connectBus(name)
		if err != nil {
			return err
		}
		opened = append(opened, b)
		buses[name] = b
	}
	if err := buses[cfg.Services[0]].EnsureStreams(ctx); err != nil {
		return fmt.Errorf("event streams: %w", err)
	}

	watcher := registry.NewWatcher(etcd, registry.DefaultPrefix, logger.With("component", "registry"))
	if err := watcher.Start(ctx); err != nil {
		return fmt.Errorf("registry watch: %w", err)
	}
	defer watcher.Close()

	cat := catalog.Default()
	newMesh := func(clientTLS mesh.ClientTLS) *mesh.Client {
		return mesh.New(watcher, cat, mesh.Options{
			TLS:            clientTLS,
			TracerProvider: nodeTel.TracerProvider,
			MeterProvider:  nodeTel.MeterProvider,
			Propagator:     nodeTel.Propagator,
		}, logger.With("component", "mesh"))
	}
	deps := Deps{Catalog: cat, Registry: watcher, Etcd: etcd, Settings: cfg.Settings}
	// Without TLS the services of this process share one mesh client;
	// with it each has its own, presenting its own certificate.
	meshFor := func(name string) *mesh.Client { return newMesh(plainEdge{sources[name]}) }
	if sources == nil {
		shared := newMesh(nil)
		defer shared.Close()
		deps.Mesh = shared
	}
	host := hostOf{cfg: cfg, admin: adm}

	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	var running []*instance
	var wg sync.WaitGroup
	stopAll := func() {
		adm.Drain()
		cancelRun()
		shutdown(running, logger)
		wg.Wait()
	}
	for _, name := range cfg.Services {
		deps.Bus = buses[name]
		inst, err := start(runCtx, name, host, deps, sources[name], meshFor, version, logger, &wg)
		if err != nil {
			stopAll()
			return fmt.Errorf("%s: %w", name, err)
		}
		running = append(running, inst)
	}
	// Serve only once every local service is registered, so the first
	// calls find their peers.
	for _, in := range running {
		in.server.SetServing(true)
	}
	addrs := map[string]string{AdminKey: adm.Addr()}
	for _, in := range running {
		addrs[in.name] = in.server.Addr()
	}
	logger.Info("services ready", "services", cfg.Services)
	if cfg.OnReady != nil {
		cfg.OnReady(addrs)
	}

	// A server that stops by itself (listener failure) takes the node down.
	failed := make(chan error, len(running))
	for _, in := range running {
		go func() {
			select {
			case <-in.server.Done():
				if err := in.server.Err(); err != nil {
					failed <- fmt.Errorf("%s: %w", in.name, err)
				}
			case <-runCtx.Done():
			}
		}()
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-failed:
	}
	logger.Info("shutting down")
	stopAll()
	return runErr
}

// instance is one running service: its server, registration and background
// loop.
type instance struct {
	name      string
	server    *server.Server
	registrar *registry.Registrar
	telemetry *telemetry.Telemetry
	cancel    context.CancelFunc
	closer    Closer
	runDone   chan struct{} // closed when the background loop returned
	// The log shipper outlives the drain, so shutdown logs still ship.
	stopShipping context.CancelFunc
	shipperDone  chan struct{}
	// release frees the claim of a service whose state is local, once it
	// is closed (nil when it keeps none).
	release func()
	// mesh is the instance's own mesh client (mesh TLS), closed last.
	mesh *mesh.Client
}

// hostOf is what start needs of the process: its config and admin
// listener.
type hostOf struct {
	cfg   Config
	admin *admin.Server
}

// edgeService is the service whose listener is the public edge: it stays
// plain HTTP (behind a load balancer) with mesh TLS on, and is called over
// h2c by the monitor's probes.
const edgeService = "gateway"

// plainEdge calls every service over mesh TLS but the edge, whose
// listener is plain HTTP.
type plainEdge struct{ *meshtls.Source }

func (p plainEdge) ClientConfig(service string) *tls.Config {
	if service == edgeService {
		return nil
	}
	return p.Source.ClientConfig(service)
}

// loadMeshTLS reads each service's mesh certificates; nil without
// Config.MeshTLSDir.
func loadMeshTLS(cfg Config, logger *slog.Logger) (map[string]*meshtls.Source, error) {
	if cfg.MeshTLSDir == "" {
		return nil, nil
	}
	sources := map[string]*meshtls.Source{}
	for _, name := range cfg.Services {
		dir := filepath.Join(cfg.MeshTLSDir, name)
		if _, err := os.Stat(filepath.Join(dir, meshtls.CertFile)); err != nil && len(cfg.Services) == 1 {
			dir = cfg.MeshTLSDir
		}
		src, err := meshtls.Load(meshtls.Options{
			Dir: dir, Service: name, TrustDomain: cfg.TrustDomain,
			Logger: logger.With("service", name, "component", "meshtls"),
		})
		if err != nil {
			return nil, fmt.Errorf("%s: mesh TLS: %w", name, err)
		}
		sources[name] = src
	}
	return sources, nil
}

// The names the certificates of etcd and NATS carry in the mesh trust
// domain; a node's clients check them as they check any peer.
const (
	etcdService = "etcd"
	natsService = "nats"
)

// Engines are the shared engines that take mesh certificates, for the
// launchers that issue them (meshtls.EnsureDev) beside Names.
var Engines = []string{etcdService, natsService}

// etcdClientTLS is the etcd client's TLS: with mesh TLS on, etcd must
// serve https, the node presents the certificate of its first service (etcd
// checks only that it chains to the mesh CA: every service reads and writes
// the registry), and the server must name etcd. Without mesh TLS, nil.
func etcdClientTLS(cfg Config, sources map[string]*meshtls.Source) (*tls.Config, error) {
	if sources == nil {
		return nil, nil
	}
	for _, ep := range cfg.EtcdEndpoints {
		if !strings.HasPrefix(ep, "https://") {
			return nil, fmt.Errorf("etcd endpoint %s is not https: with mesh TLS on, etcd must require client certificates too, or anyone who reaches it can register a fake instance", ep)
		}
	}
	return sources[cfg.Services[0]].ClientConfig(etcdService), nil
}

func start(ctx context.Context, name string, host hostOf, deps Deps, tlsSrc *meshtls.Source, meshFor func(string) *mesh.Client, version string, logger *slog.Logger, wg *sync.WaitGroup) (inst *instance, err error) {
	cfg := host.cfg
	var ownMesh *mesh.Client
	if tlsSrc != nil {
		ownMesh = meshFor(name)
		deps.Mesh = ownMesh
		defer func() {
			if inst == nil {
				ownMesh.Close()
			}
		}()
	}
	id := name + "-" + randomID()
	var release func()
	if why := localState(name, cfg.Settings); why != "" {
		if release, err = claimSingle(ctx, deps.Etcd, name, id, why, cfg.RegistryTTL); err != nil {
			return nil, err
		}
		defer func() {
			if inst == nil {
				release()
			}
		}()
	}
	// WARN and above (and sampled INFO) also go to the bus, for the
	// monitor's GetLogs; the unwrapped logger reports shipping failures.
	shipper, err := logship.New(logship.Config{Service: name, InstanceID: id}, deps.Bus, logger)
	if err != nil {
		return nil, err
	}
	log := slog.New(shipper.Handler(logger.Handler())).With("service", name, "instance", id)
	tel, err := telemetry.New(ctx, telemetry.Config{ServiceName: name, InstanceID: id, Version: version, OTLPEndpoint: cfg.OTLPEndpoint})
	if err != nil {
		return nil, err
	}
	deps.Logger = log
	deps.InstanceID = id
	deps.MeterProvider = tel.MeterProvider
	svc, err := Build(ctx, name, deps)
	if err != nil {
		_ = tel.Shutdown(context.Background())
		return nil, err
	}
	addr := cfg.Addrs[name]
	if addr == "" {
		addr = net.JoinHostPort(cfg.ListenHost, "0")
	}
	opts := []server.Option{
		server.WithTelemetry(tel),
		server.WithInterceptors(identity.NewInterceptor(cfg.DevMode)),
	}
	if h, ok := svc.(HTTPMounter); ok {
		for pattern, handler := range h.HTTPHandlers() {
			opts = append(opts, server.WithHandler(pattern, handler))
		}
	}
	if _, ok := svc.(EdgeLogged); ok {
		opts = append(opts, server.WithoutAccessLog())
	}
	// Metrics and full reflection are the admin listener's. A listener
	// that passes calls through (the gateway's, public) reflects only what
	// a client may call; the others (mesh) reflect nothing. Health stays on
	// every listener: the monitor probes each instance at its registered
	// address, and load balancers probe the gateway's.
	var reflected []string
	if r, ok := svc.(Reflector); ok {
		reflected = r.ReflectionNames()
		opts = append(opts, server.WithReflection(reflected...), server.WithReflectionFilter(deps.Catalog.ClientCallable))
	} else {
		opts = append(opts, server.WithoutReflection())
	}
	scfg := server.Config{Addr: addr, DrainTimeout: cfg.DrainTimeout}
	if tlsSrc != nil && name != edgeService {
		scfg.TLS = tlsSrc.ServerConfig()
	}
	srv, err := server.New(scfg, []server.Service{svc}, log, opts...)
	if err != nil {
		_ = tel.Shutdown(context.Background())
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		_ = tel.Shutdown(context.Background())
		return nil, err
	}
	host.admin.Add(admin.Target{Name: name, ServiceName: svc.ServiceName(), Health: srv.HealthChecker(), Metrics: tel.Gatherer(), Reflection: reflected})
	inst = &instance{name: name, server: srv, telemetry: tel, release: release, mesh: ownMesh, shipperDone: make(chan struct{})}
	shipCtx, stopShipping := context.WithCancel(context.WithoutCancel(ctx))
	inst.stopShipping = stopShipping
	go func() {
		defer close(inst.shipperDone)
		_ = shipper.Run(shipCtx)
	}()
	if c, ok := svc.(Closer); ok {
		inst.closer = c
	}
	if runner, ok := svc.(Runner); ok {
		rctx, cancel := context.WithCancel(ctx)
		inst.cancel = cancel
		inst.runDone = make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(inst.runDone)
			if err := runner.Run(rctx); err != nil && rctx.Err() == nil {
				log.Error("background loop stopped", "error", err)
			}
		}()
	}
	inst.registrar = registry.NewRegistrar(deps.Etcd, registry.Instance{
		Service:   name,
		ID:        id,
		Address:   advertised(srv.Addr(), cfg.AdvertiseHost),
		Admin:     advertised(host.admin.Addr(), cfg.AdvertiseHost),
		Protocols: []string{"connect", "grpc", "grpc-web"},
		Version:   version,
		StartTime: time.Now().UTC(),
	}, registry.RegistrarOptions{TTL: cfg.RegistryTTL}, log)
	if err := inst.registrar.Register(ctx); err != nil {
		shutdown([]*instance{inst}, logger)
		return nil, fmt.Errorf("register: %w", err)
	}
	log.Info("service started", "addr", srv.Addr())
	return inst, nil
}

// shutdown deregisters every instance first, so peers stop picking them,
// then drains them all in parallel.
func shutdown(instances []*instance, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, in := range instances {
		if in.registrar != nil {
			if err := in.registrar.Deregister(ctx); err != nil {
				logger.Warn("deregister failed", "service", in.name, "error", err)
			}
		}
	}
	var wg sync.WaitGroup
	for _, in := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := in.server.Shutdown(ctx); err != nil {
				logger.Warn("drain incomplete", "service", in.name, "error", err)
			}
			if in.cancel != nil {
				in.cancel()
				<-in.runDone // the loop may still use what Close releases
			}
			if in.closer != nil {
				if err := in.closer.Close(); err != nil {
					logger.Warn("close failed", "service", in.name, "error", err)
				}
			}
			if in.release != nil {
				in.release()
			}
			_ = in.telemetry.Shutdown(ctx)
			in.stopShipping()
			<-in.shipperDone
			if in.mesh != nil {
				in.mesh.Close()
			}
		}()
	}
	wg.Wait()
}

func advertised(addr, host string) string {
	h, p, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return addr
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
		return net.JoinHostPort(host, p)
	}
	return addr
}

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// quietEtcdLogger silences the etcd client's own zap logging: its failures
// reach us as errors, which we log with context.
func quietEtcdLogger() *zap.Logger { return zap.NewNop() }
