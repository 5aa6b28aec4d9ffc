// Package natsserver runs an embedded NATS server with JetStream on local
// disk, so `streamgate dev` and tests need no external broker. Production
// deployments point services at a real NATS cluster instead.
package natsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/meshtls"
)

// readyTimeout bounds how long Start waits for the client listener.
const readyTimeout = 10 * time.Second

// Config says where the server keeps its data and where it listens.
type Config struct {
	// Dir is the JetStream store directory. Required: a restart on the same
	// Dir finds its streams, messages and consumer state again.
	Dir string
	// Host is the client listen address; empty means 127.0.0.1, so a dev
	// server is not reachable from other machines by accident.
	Host string
	// Port is the client port; 0 or -1 picks a free one (see ClientURL).
	Port int
	// Cluster, when set, makes the server one of a JetStream cluster, so
	// tests can run replicated streams in one process.
	Cluster *ClusterConfig
	// TLS, when set, makes clients and routes speak mesh TLS and gives
	// each service its own NATS user. Nil: plain TCP and no
	// authentication, for dev and most tests.
	TLS *TLSConfig
	// MonitorPort, when set, serves NATS's HTTP monitoring endpoints
	// (/varz, /jsz, /healthz) on Host: stream and consumer state, never
	// message data, in plain HTTP, for KEDA's JetStream scaler and
	// Prometheus exporters; a NetworkPolicy keeps it from the rest.
	// 0: off; -1: a random port.
	MonitorPort int
}

// Service is the service a NATS server's mesh certificate names.
const Service = "nats"

// tlsTimeout bounds a TLS handshake, client or route, in seconds;
// nats-server's default (2s) is short for a loaded CI machine under the
// race detector.
const tlsTimeout = 5

// TLSConfig is the mesh TLS of a server. Clients must present a certificate
// of the mesh CA naming one of Services, and may then publish anything but
// the events whose contract names another service as publisher (see
// events.PublishDenied); they may subscribe to anything. Routes between the
// servers of a cluster must present certificates naming Service.
type TLSConfig struct {
	// Source is the server's certificate, naming Service. Required.
	Source *meshtls.Source
	// Services are the services that get a NATS user, e.g. node.Names. A
	// certificate naming any other service is refused.
	Services []string
}

// MeshTLS loads a server's certificate from dir (tls.crt, tls.key, ca.crt,
// naming Service) and gives services their users.
func MeshTLS(dir, trustDomain string, services []string, logger *slog.Logger) (*TLSConfig, error) {
	src, err := meshtls.Load(meshtls.Options{Dir: dir, Service: Service, TrustDomain: trustDomain, Logger: logger})
	if err != nil {
		return nil, err
	}
	return &TLSConfig{Source: src, Services: services}, nil
}

// users returns the NATS user of each service: named by the URI SAN of its
// certificate, which the server matches (TLSMap) to the client's
// certificate, with publish permissions that keep it to its own events.
func (c *TLSConfig) users() ([]*server.User, error) {
	if len(c.Services) == 0 {
		return nil, errors.New("natsserver: TLSConfig.Services is empty: no client could connect")
	}
	users := make([]*server.User, 0, len(c.Services))
	for _, svc := range c.Services {
		denied, err := events.PublishDenied(svc)
		if err != nil {
			return nil, fmt.Errorf("natsserver: permissions of %s: %w", svc, err)
		}
		users = append(users, &server.User{
			Username: meshtls.ServiceURI(c.Source.TrustDomain(), svc).String(),
			Permissions: &server.Permissions{
				// Allow ">" keeps the JetStream API, inboxes, work queues
				// and key-value buckets open; only other services' events
				// are closed.
				Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: denied},
			},
		})
	}
	return users, nil
}

// ClusterConfig joins a server to a cluster of servers that route to each
// other.
type ClusterConfig struct {
	// Name is the cluster's name, the same on every server.
	Name string
	// ServerName is unique in the cluster.
	ServerName string
	// Port is the route listen port (on Host). The routes must be known
	// in advance, so it cannot be picked at random.
	Port int
	// Routes are the route URLs of the servers, e.g.
	// "nats-route://127.0.0.1:6222" (this server's own is ignored).
	Routes []string
}

func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		return c, errors.New("natsserver: Config.Dir is required")
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.Port == 0 {
		// In nats-server 0 means the default 4222; -1 means random.
		c.Port = server.RANDOM_PORT
	}
	return c, nil
}

// Server is a running embedded NATS server.
type Server struct {
	ns     *server.Server
	logger *slog.Logger
	once   sync.Once
}

// Start starts the server and returns once it accepts connections with
// JetStream enabled. ctx bounds the start only, not the server's life: stop it
// with Shutdown. The server never installs signal handlers (NoSigs), since the
// host process owns them.
func Start(ctx context.Context, cfg Config, logger *slog.Logger) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("natsserver: store dir: %w", err)
	}
	opts := &server.Options{
		Host:      cfg.Host,
		Port:      cfg.Port,
		JetStream: true,
		StoreDir:  cfg.Dir,
		NoSigs:    true,
	}
	if cfg.MonitorPort != 0 {
		opts.HTTPHost, opts.HTTPPort = opts.Host, cfg.MonitorPort
		if opts.HTTPHost == "" {
			opts.HTTPHost = "127.0.0.1"
		}
	}
	if c := cfg.Cluster; c != nil {
		opts.ServerName = c.ServerName
		opts.Cluster = server.ClusterOpts{Name: c.Name, Host: cfg.Host, Port: c.Port}
		routes := strings.Join(c.Routes, ",")
		opts.Routes = server.RoutesFromStr(routes)
	}
	if t := cfg.TLS; t != nil {
		if t.Source == nil || t.Source.Service() != Service {
			return nil, fmt.Errorf("natsserver: TLSConfig.Source must hold a certificate naming %q", Service)
		}
		users, err := t.users()
		if err != nil {
			return nil, err
		}
		tc := t.Source.ServerConfig()
		tc.NextProtos = nil // the NATS protocol negotiates no ALPN
		opts.TLSConfig = tc
		opts.TLSTimeout = tlsTimeout
		// TLSVerify says clients must present a certificate (ServerConfig
		// verifies it); TLSMap makes the server find the user by the
		// certificate's URI SAN instead of a password.
		opts.TLSVerify = true
		opts.TLSMap = true
		opts.Users = users
		if cfg.Cluster != nil {
			// Both ends present the nats certificate and accept only a
			// peer naming nats. nats-server warns that solicited routes
			// are not verified, as it sees InsecureSkipVerify; PeerConfig
			// verifies them in VerifyConnection.
			opts.Cluster.TLSConfig = t.Source.PeerConfig(Service)
			opts.Cluster.TLSTimeout = tlsTimeout
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsserver: %w", err)
	}
	adapter := &slogAdapter{logger: logger, fatal: make(chan string, 1)}
	// Debug only when the injected logger wants it; protocol tracing never.
	ns.SetLoggerV2(adapter, logger.Enabled(ctx, slog.LevelDebug), false, false)

	// Start returns early, after logging through Fatalf, when it cannot
	// listen or enable JetStream; the adapter turns that into an error here
	// instead of a ten-second wait for a listener that will never come.
	ns.Start()
	s := &Server{ns: ns, logger: logger}
	select {
	case msg := <-adapter.fatal:
		s.Shutdown()
		return nil, fmt.Errorf("natsserver: %s", msg)
	default:
	}

	wait := readyTimeout
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
		wait = time.Until(deadline)
	}
	if err := ctx.Err(); err != nil {
		s.Shutdown()
		return nil, err
	}
	if !ns.ReadyForConnections(wait) {
		s.Shutdown()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("natsserver: not ready for connections after %s", wait)
	}
	if !ns.JetStreamEnabled() {
		s.Shutdown()
		return nil, errors.New("natsserver: JetStream did not start")
	}
	if cfg.Cluster != nil {
		// A clustered server accepts connections before its JetStream has
		// a meta leader; until then every stream request times out.
		if err := waitMetaLeader(ctx, ns); err != nil {
			s.Shutdown()
			return nil, err
		}
	}
	logger.InfoContext(ctx, "nats server ready", "url", ns.ClientURL(), "dir", cfg.Dir)
	return s, nil
}

// clusterReadyTimeout bounds the wait for a JetStream meta leader: the
// other servers of the cluster are starting at the same time.
const clusterReadyTimeout = 60 * time.Second

// waitMetaLeader returns once the server's view of the JetStream meta
// group has a leader and is current with it.
func waitMetaLeader(ctx context.Context, ns *server.Server) error {
	ctx, cancel := context.WithTimeout(ctx, clusterReadyTimeout)
	defer cancel()
	for {
		if ns.JetStreamIsCurrent() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("natsserver: no JetStream meta leader after %s: are the other servers of the cluster up?", clusterReadyTimeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ClientURL is the nats:// URL clients connect to.
func (s *Server) ClientURL() string {
	return s.ns.ClientURL()
}

// MonitorURL is the http:// base of the monitoring endpoints, or "" when
// Config.MonitorPort is 0.
func (s *Server) MonitorURL() string {
	if a := s.ns.MonitorAddr(); a != nil {
		return "http://" + a.String()
	}
	return ""
}

// Shutdown stops the server and waits until it has stopped, so the store
// directory is released and a new server may open it. Safe to call twice.
func (s *Server) Shutdown() {
	s.once.Do(func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
	})
}

// slogAdapter is the server.Logger that writes to slog. Notices (including
// the startup banner) go to DEBUG: the embedded server is plumbing, and Start
// logs the one line that matters.
type slogAdapter struct {
	logger *slog.Logger
	fatal  chan string
}

func (a *slogAdapter) Noticef(format string, v ...any) {
	a.logger.Debug(fmt.Sprintf(format, v...))
}

func (a *slogAdapter) Warnf(format string, v ...any) {
	a.logger.Warn(fmt.Sprintf(format, v...))
}

// Fatalf must not exit the process as the server's own logger would: Start
// reports the first fatal message as an error.
func (a *slogAdapter) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	a.logger.Error(msg)
	select {
	case a.fatal <- msg:
	default:
	}
}

func (a *slogAdapter) Errorf(format string, v ...any) {
	a.logger.Error(fmt.Sprintf(format, v...))
}

func (a *slogAdapter) Debugf(format string, v ...any) {
	a.logger.Debug(fmt.Sprintf(format, v...))
}

func (a *slogAdapter) Tracef(format string, v ...any) {
	a.logger.Debug(fmt.Sprintf(format, v...))
}
