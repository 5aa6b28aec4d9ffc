package meshtls

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCheckInterval is how often, at most, a Source looks at its files.
const DefaultCheckInterval = 2 * time.Second

// Options says whose certificate a Source holds.
type Options struct {
	// Dir holds tls.crt, tls.key and ca.crt. Required.
	Dir string
	// Service is the service this process speaks as; its certificate must
	// name it. Required.
	Service string
	// TrustDomain is the trust domain of every certificate of the mesh;
	// default DefaultTrustDomain.
	TrustDomain string
	// CheckInterval is how often, at most, the files are read again to see
	// whether they rotated; default DefaultCheckInterval. The check runs
	// on a handshake that needs the material, never in the background.
	CheckInterval time.Duration
	// Logger reports rotations and rotated files that do not load; nil:
	// discard.
	Logger *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Source is one service's TLS material, read from its directory and read
// again when the files change. Its configurations read the current material
// on every handshake, so a rotation reaches new connections without a
// restart; connections already open keep the certificate they began with.
type Source struct {
	opts Options

	cur       atomic.Pointer[material]
	nextCheck atomic.Int64 // unix nanoseconds
	reloadMu  sync.Mutex
}

// material is one loaded generation of the files.
type material struct {
	raw   [3][]byte // cert, key, ca as read, to tell a rotation
	cert  *tls.Certificate
	roots *x509.CertPool
}

// Load reads the files in opts.Dir and checks that the certificate names
// opts.Service in the trust domain and chains to the CA.
func Load(opts Options) (*Source, error) {
	if opts.Dir == "" || opts.Service == "" {
		return nil, errors.New("meshtls: Options.Dir and Options.Service are required")
	}
	if opts.TrustDomain == "" {
		opts.TrustDomain = DefaultTrustDomain
	}
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = DefaultCheckInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Source{opts: opts}
	raw, err := readFiles(opts.Dir)
	if err != nil {
		return nil, err
	}
	m, err := s.parse(raw)
	if err != nil {
		return nil, err
	}
	s.cur.Store(m)
	s.nextCheck.Store(opts.Now().Add(opts.CheckInterval).UnixNano())
	return s, nil
}

// Service is the service the Source speaks as.
func (s *Source) Service() string { return s.opts.Service }

// TrustDomain is the Source's trust domain.
func (s *Source) TrustDomain() string { return s.opts.TrustDomain }

// Certificate is the current leaf certificate.
func (s *Source) Certificate() *x509.Certificate { return s.current().cert.Leaf }

func readFiles(dir string) ([3][]byte, error) {
	var raw [3][]byte
	for i, name := range []string{CertFile, KeyFile, CAFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return raw, fmt.Errorf("meshtls: %w", err)
		}
		raw[i] = b
	}
	return raw, nil
}

func (s *Source) parse(raw [3][]byte) (*material, error) {
	dir := s.opts.Dir
	cert, err := tls.X509KeyPair(raw[0], raw[1])
	if err != nil {
		return nil, fmt.Errorf("meshtls: %s, %s in %s: %w", CertFile, KeyFile, dir, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(raw[2]) {
		return nil, fmt.Errorf("meshtls: %s in %s holds no PEM certificate", CAFile, dir)
	}
	m := &material{raw: raw, cert: &cert, roots: roots}
	svc, td, ok := serviceOf(cert.Leaf)
	if !ok || td != s.opts.TrustDomain || svc != s.opts.Service {
		return nil, fmt.Errorf("meshtls: the certificate in %s does not name %s (URIs %v)", dir, ServiceURI(s.opts.TrustDomain, s.opts.Service), cert.Leaf.URIs)
	}
	if _, err := m.verify(cert.Certificate, s.opts.Now()); err != nil {
		return nil, fmt.Errorf("meshtls: the certificate in %s: %w", dir, err)
	}
	return m, nil
}

// current returns the material, first reading the files again if the
// check interval has passed. A rotation that does not load (a file half
// written, a key that does not match) keeps the previous material and is
// tried again at the next check.
func (s *Source) current() *material {
	now := s.opts.Now()
	if now.UnixNano() < s.nextCheck.Load() || !s.reloadMu.TryLock() {
		return s.cur.Load()
	}
	defer s.reloadMu.Unlock()
	if now.UnixNano() < s.nextCheck.Load() {
		return s.cur.Load()
	}
	s.nextCheck.Store(now.Add(s.opts.CheckInterval).UnixNano())
	old := s.cur.Load()
	raw, err := readFiles(s.opts.Dir)
	if err != nil {
		s.opts.Logger.Warn("mesh TLS files unreadable; keeping the loaded ones", "dir", s.opts.Dir, "err", err)
		return old
	}
	if bytes.Equal(raw[0], old.raw[0]) && bytes.Equal(raw[1], old.raw[1]) && bytes.Equal(raw[2], old.raw[2]) {
		return old
	}
	m, err := s.parse(raw)
	if err != nil {
		s.opts.Logger.Warn("rotated mesh TLS files do not load; keeping the loaded ones", "dir", s.opts.Dir, "err", err)
		return old
	}
	s.cur.Store(m)
	s.opts.Logger.Info("mesh TLS files reloaded", "dir", s.opts.Dir, "serial", m.cert.Leaf.SerialNumber.String(), "not_after", m.cert.Leaf.NotAfter)
	return m
}

// verify checks that chain (DER, leaf first) chains to the CA for any
// usage the mesh has (a leaf is both server and client).
func (m *material) verify(chain [][]byte, now time.Time) (*x509.Certificate, error) {
	if len(chain) == 0 {
		return nil, errors.New("no certificate")
	}
	certs := make([]*x509.Certificate, len(chain))
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{
		Roots:         m.roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	return certs[0], err
}

// ServerConfig is the configuration of a mesh listener: TLS 1.3 only, the
// current certificate, and a client certificate required, chained to the
// current CA and naming a service of the trust domain. ALPN offers h2 and
// http/1.1.
func (s *Source) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{"h2", "http/1.1"},
		ClientAuth: tls.RequireAnyClientCert, // verified below, against the current CA
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.current().cert, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			leaf, err := s.verifyPeer(cs, x509.ExtKeyUsageClientAuth)
			if err != nil {
				return err
			}
			if _, td, ok := serviceOf(leaf); !ok || td != s.opts.TrustDomain {
				return fmt.Errorf("meshtls: client certificate names no service of %s (URIs %v)", s.opts.TrustDomain, leaf.URIs)
			}
			return nil
		},
	}
}

// ClientConfig is the configuration for calling service: TLS 1.3, this
// Source's certificate presented, and the server's certificate chained to
// the current CA and naming exactly ServiceURI(trust domain, service). Host
// names are not checked: the URI SAN is the identity, and instances are
// reached at whatever address they registered.
func (s *Source) ClientConfig(service string) *tls.Config {
	want := ServiceURI(s.opts.TrustDomain, service).String()
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{"h2", "http/1.1"},
		// The chain and the name are verified in VerifyConnection against
		// the current CA, which a static RootCAs could not follow.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return s.current().cert, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			leaf, err := s.verifyPeer(cs, x509.ExtKeyUsageServerAuth)
			if err != nil {
				return err
			}
			svc, td, ok := serviceOf(leaf)
			if !ok || td != s.opts.TrustDomain || svc != service {
				return fmt.Errorf("meshtls: server certificate does not name %s (URIs %v)", want, leaf.URIs)
			}
			return nil
		},
	}
}

func (s *Source) verifyPeer(cs tls.ConnectionState, usage x509.ExtKeyUsage) (*x509.Certificate, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, errors.New("meshtls: peer sent no certificate")
	}
	chain := make([][]byte, len(cs.PeerCertificates))
	for i, c := range cs.PeerCertificates {
		chain[i] = c.Raw
	}
	m := s.current()
	leaf, err := m.verify(chain, s.opts.Now())
	if err != nil {
		return nil, fmt.Errorf("meshtls: peer certificate: %w", err)
	}
	if !hasUsage(leaf, usage) {
		return nil, fmt.Errorf("meshtls: peer certificate is not for %s", usageName(usage))
	}
	return leaf, nil
}

func hasUsage(c *x509.Certificate, usage x509.ExtKeyUsage) bool {
	if len(c.ExtKeyUsage) == 0 {
		return true
	}
	for _, u := range c.ExtKeyUsage {
		if u == usage || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

func usageName(u x509.ExtKeyUsage) string {
	if u == x509.ExtKeyUsageClientAuth {
		return "client authentication"
	}
	return "server authentication"
}

// PeerConfig is the configuration of a connection between two instances of
// one kind of server, where either end may have dialled (NATS routes): TLS
// 1.3, this Source's certificate presented as server and as client, a
// certificate required from the peer, and the peer's certificate chained to
// the current CA, valid for both server and client authentication, and
// naming exactly ServiceURI(trust domain, service). No ALPN is offered.
func (s *Source) PeerConfig(service string) *tls.Config {
	want := ServiceURI(s.opts.TrustDomain, service).String()
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ClientAuth: tls.RequireAnyClientCert, // verified below, against the current CA
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.current().cert, nil
		},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return s.current().cert, nil
		},
		// As in ClientConfig: the chain and the name are verified in
		// VerifyConnection, against the current CA.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			// The state does not tell which end dialled, so the peer must
			// be fit for both.
			leaf, err := s.verifyPeer(cs, x509.ExtKeyUsageServerAuth)
			if err != nil {
				return err
			}
			if !hasUsage(leaf, x509.ExtKeyUsageClientAuth) {
				return errors.New("meshtls: peer certificate is not for client authentication")
			}
			svc, td, ok := serviceOf(leaf)
			if !ok || td != s.opts.TrustDomain || svc != service {
				return fmt.Errorf("meshtls: peer certificate does not name %s (URIs %v)", want, leaf.URIs)
			}
			return nil
		},
	}
}
