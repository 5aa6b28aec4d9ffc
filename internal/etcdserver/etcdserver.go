// Package etcdserver runs an etcd member inside the process: a single node
// for `streamgate dev` and for tests that want the real registry instead of
// a fake, or one member of a static cluster for `streamgate cluster`. It is the only package that links go.etcd.io/etcd/server/v3/embed:
// that dependency costs about a minute of cold build, so it stays in one leaf.
package etcdserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/streamgate/streamgate/internal/meshtls"
)

// readyTimeout bounds Start even when the caller's context has no deadline:
// a node that is not ready by then will not become ready.
const readyTimeout = 30 * time.Second

// Config says where the node keeps its data and where it listens.
type Config struct {
	// Dir is the data directory. Required: reusing it keeps the data across
	// restarts, a fresh temporary directory gives an empty store.
	Dir string
	// ClientAddr is the host:port clients dial; default "127.0.0.1:0" (any
	// free port, see Server.Endpoint).
	ClientAddr string
	// PeerAddr is the host:port of the raft peer listener; default
	// "127.0.0.1:0". A single node has no peers, but etcd still listens.
	PeerAddr string
	// AdvertiseClientAddr and AdvertisePeerAddr are the host:port others
	// dial when the listen address is not one they can (0.0.0.0 in a pod:
	// etcd-0.etcd-peer:2380); default the listen addresses. In a cluster
	// the peer one must be this member's InitialCluster entry.
	AdvertiseClientAddr string
	AdvertisePeerAddr   string
	// Name is the member name; default "streamgate".
	Name string
	// InitialCluster lists every member of a static cluster as
	// name=http(s)://peer-host:port pairs, comma-separated, this one included
	// (its entry must match Name and PeerAddr). Empty: a single node. Only
	// read when Dir holds no member yet; a restart rejoins from Dir.
	InitialCluster string
	// ClusterToken keeps members of different clusters built from the same
	// peer addresses apart; default "streamgate".
	ClusterToken string
	// UnsafeNoFsync skips fsync: faster, and fine for tests and throwaway
	// dev data, where a crash may lose the last writes.
	UnsafeNoFsync bool
	// TLSDir, when set, holds the member's certificate in the mesh layout
	// (tls.crt, tls.key, ca.crt; see internal/meshtls): clients and peers
	// then talk TLS 1.3 and must present a certificate chained to ca.crt,
	// and every URL is https (InitialCluster's too). etcd reads the
	// certificate files again on each handshake, so a rotation needs no
	// restart.
	TLSDir string
}

// scheme is the scheme of the member's URLs.
func (c *Config) scheme() string {
	if c.TLSDir != "" {
		return "https"
	}
	return "http"
}

func (c *Config) validate() error {
	if c.Dir == "" {
		return errors.New("etcdserver: Config.Dir is required")
	}
	if c.ClientAddr == "" {
		c.ClientAddr = "127.0.0.1:0"
	}
	if c.PeerAddr == "" {
		c.PeerAddr = "127.0.0.1:0"
	}
	if c.Name == "" {
		c.Name = "streamgate"
	}
	if c.ClusterToken == "" {
		c.ClusterToken = "streamgate"
	}
	if c.InitialCluster != "" && strings.HasSuffix(c.PeerAddr, ":0") && c.AdvertisePeerAddr == "" {
		return errors.New("etcdserver: a member of a cluster needs a fixed PeerAddr: its peers dial it")
	}
	return nil
}

// Server is a running embedded etcd node.
type Server struct {
	etcd     *embed.Etcd
	endpoint string
	logger   *slog.Logger

	closing   *atomic.Bool // demotes etcd's shutdown noise to debug
	closeOnce sync.Once
	closeErr  error
}

// Start starts a node and returns once it serves clients. It waits for
// etcd's ReadyNotify, bounded by ctx and by a 30 s timeout; on failure the
// node is closed again. etcd's own logs go to logger at error level only:
// at info it logs dozens of lines per start.
func Start(ctx context.Context, cfg Config, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	clientURL, err := url.Parse(cfg.scheme() + "://" + cfg.ClientAddr)
	if err != nil {
		return nil, fmt.Errorf("etcdserver: client address %q: %w", cfg.ClientAddr, err)
	}
	peerURL, err := url.Parse(cfg.scheme() + "://" + cfg.PeerAddr)
	if err != nil {
		return nil, fmt.Errorf("etcdserver: peer address %q: %w", cfg.PeerAddr, err)
	}

	advClient, advPeer := clientURL, peerURL
	if cfg.AdvertiseClientAddr != "" {
		if advClient, err = url.Parse(cfg.scheme() + "://" + cfg.AdvertiseClientAddr); err != nil {
			return nil, fmt.Errorf("etcdserver: advertised client address %q: %w", cfg.AdvertiseClientAddr, err)
		}
	}
	if cfg.AdvertisePeerAddr != "" {
		if advPeer, err = url.Parse(cfg.scheme() + "://" + cfg.AdvertisePeerAddr); err != nil {
			return nil, fmt.Errorf("etcdserver: advertised peer address %q: %w", cfg.AdvertisePeerAddr, err)
		}
	}

	ec := embed.NewConfig()
	ec.Name = cfg.Name
	ec.Dir = cfg.Dir
	ec.ListenClientUrls = []url.URL{*clientURL}
	ec.AdvertiseClientUrls = []url.URL{*advClient}
	ec.ListenPeerUrls = []url.URL{*peerURL}
	ec.AdvertisePeerUrls = []url.URL{*advPeer}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	if cfg.InitialCluster != "" {
		ec.InitialCluster = cfg.InitialCluster
	}
	ec.InitialClusterToken = cfg.ClusterToken
	ec.UnsafeNoFsync = cfg.UnsafeNoFsync
	if cfg.TLSDir != "" {
		info := transport.TLSInfo{
			CertFile:       filepath.Join(cfg.TLSDir, meshtls.CertFile),
			KeyFile:        filepath.Join(cfg.TLSDir, meshtls.KeyFile),
			TrustedCAFile:  filepath.Join(cfg.TLSDir, meshtls.CAFile),
			ClientCertAuth: true,
			// A peer is known by its certificate chaining to the mesh CA
			// (and names its service in a URI SAN), not by its address:
			// pod IPs are in no certificate, and a wildcard DNS SAN
			// (*.etcd-peer) resolves to nothing etcd could compare.
			SkipClientSANVerify: true,
		}
		ec.ClientTLSInfo = info
		ec.PeerTLSInfo = info
		ec.TlsMinVersion = "TLS1.3"
	}
	// Registrations churn (one lease and key per instance start), so keep an
	// hour of history for watchers and compact the rest.
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = "1h"
	closing := new(atomic.Bool)
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.New(newSlogCore(logger, zap.ErrorLevel, closing)))

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("etcdserver: start: %w", err)
	}
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		closing.Store(true)
		e.Close()
		return nil, fmt.Errorf("etcdserver: before ready: %w", err)
	case <-timer.C:
		closing.Store(true)
		e.Close()
		return nil, fmt.Errorf("etcdserver: not ready after %s", readyTimeout)
	case <-ctx.Done():
		closing.Store(true)
		e.Close()
		return nil, fmt.Errorf("etcdserver: waiting for ready: %w", context.Cause(ctx))
	}
	s := &Server{
		etcd:     e,
		endpoint: cfg.scheme() + "://" + e.Clients[0].Addr().String(),
		logger:   logger,
		closing:  closing,
	}
	logger.Info("embedded etcd ready", "endpoint", s.endpoint, "dir", cfg.Dir)
	return s, nil
}

// Endpoint is the client URL with the port actually bound, for
// clientv3.Config.Endpoints.
func (s *Server) Endpoint() string { return s.endpoint }

// Close stops the node and waits until its listeners are closed; it is
// safe to call more than once. Close clients first: etcd gives open watch
// and keepalive streams up to its request timeout to finish. It returns the
// first error the node reported while running, if any.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		s.etcd.Close()
		// Err is closed once Close returns; drain what was reported.
		for err := range s.etcd.Err() {
			if err != nil && s.closeErr == nil {
				s.closeErr = fmt.Errorf("etcdserver: %w", err)
			}
		}
		s.logger.Info("embedded etcd closed", "endpoint", s.endpoint)
	})
	return s.closeErr
}
