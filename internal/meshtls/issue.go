package meshtls

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Validity periods of what NewCA and Issue make by default.
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultLeafValidity = 365 * 24 * time.Hour
)

// backdate covers clocks a little behind the issuer's.
const backdate = 5 * time.Minute

// CA is a mesh certificate authority: a self-signed ECDSA P-256 certificate
// naming its trust domain (URI SAN spiffe://<trust-domain>) and its key.
type CA struct {
	Cert        *x509.Certificate
	Key         crypto.Signer
	TrustDomain string
}

// NewCA makes a CA for trustDomain (default DefaultTrustDomain), valid for
// validFor (default DefaultCAValidity).
func NewCA(trustDomain string, validFor time.Duration) (*CA, error) {
	if trustDomain == "" {
		trustDomain = DefaultTrustDomain
	}
	if validFor <= 0 {
		validFor = DefaultCAValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"StreamGate"}, CommonName: "StreamGate mesh CA " + trustDomain},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		URIs:                  []*url.URL{{Scheme: "spiffe", Host: trustDomain}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, TrustDomain: trustDomain}, nil
}

// WriteDir writes the CA to dir as a cert-manager CA issuer reads it:
// tls.crt and ca.crt (the CA certificate) and tls.key (its key, mode 0600).
func (ca *CA) WriteDir(dir string) error {
	keyPEM, err := encodeKey(ca.Key)
	if err != nil {
		return err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
	return writeFiles(dir, certPEM, keyPEM, certPEM)
}

// LoadCA reads a CA written by WriteDir (or a cert-manager CA Secret:
// tls.crt and tls.key). Its trust domain is the one its spiffe:// URI SAN
// names, else DefaultTrustDomain.
func LoadCA(dir string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil {
		return nil, fmt.Errorf("meshtls: CA: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("meshtls: CA: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("meshtls: CA in %s: %w", dir, err)
	}
	if !pair.Leaf.IsCA {
		return nil, fmt.Errorf("meshtls: the certificate in %s is not a CA", dir)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("meshtls: the CA key in %s cannot sign", dir)
	}
	td := DefaultTrustDomain
	for _, u := range pair.Leaf.URIs {
		if u.Scheme == "spiffe" && u.Host != "" && (u.Path == "" || u.Path == "/") {
			td = u.Host
			break
		}
	}
	return &CA{Cert: pair.Leaf, Key: signer, TrustDomain: td}, nil
}

// IssueOptions describes a service certificate.
type IssueOptions struct {
	// Service is the service the certificate names. Required.
	Service string
	// DNSNames and IPs are extra SANs, for tools that check host names;
	// the mesh itself checks only the URI SAN.
	DNSNames []string
	IPs      []net.IP
	// ValidFor is the validity; default DefaultLeafValidity, capped at the
	// CA's own expiry.
	ValidFor time.Duration
}

// Issue makes a certificate for a service, valid for server and client
// authentication, and writes it to dir as tls.crt, tls.key (mode 0600) and
// ca.crt.
func (ca *CA) Issue(dir string, opts IssueOptions) error {
	if opts.Service == "" {
		return errors.New("meshtls: IssueOptions.Service is required")
	}
	if opts.ValidFor <= 0 {
		opts.ValidFor = DefaultLeafValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := serialNumber()
	if err != nil {
		return err
	}
	now := time.Now()
	notAfter := now.Add(opts.ValidFor)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"StreamGate"}, CommonName: opts.Service},
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{ServiceURI(ca.TrustDomain, opts.Service)},
		DNSNames:     opts.DNSNames,
		IPAddresses:  opts.IPs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	return writeFiles(dir,
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM,
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}))
}

// EnsureDev makes, once, a CA in <dir>/ca and a certificate per service in
// <dir>/<service>, for the dev and cluster launchers: what is there and
// still loads (certificate naming the service, chaining to the CA, not
// expiring within a day) is kept, so a restart reuses it.
func EnsureDev(dir, trustDomain string, services []string) error {
	if trustDomain == "" {
		trustDomain = DefaultTrustDomain
	}
	caDir := filepath.Join(dir, "ca")
	ca, err := LoadCA(caDir)
	if err != nil || ca.TrustDomain != trustDomain || time.Until(ca.Cert.NotAfter) < 30*24*time.Hour {
		if ca, err = NewCA(trustDomain, 0); err != nil {
			return err
		}
		if err := ca.WriteDir(caDir); err != nil {
			return err
		}
	}
	for _, svc := range services {
		svcDir := filepath.Join(dir, svc)
		if s, err := Load(Options{Dir: svcDir, Service: svc, TrustDomain: trustDomain}); err == nil &&
			time.Until(s.Certificate().NotAfter) > 24*time.Hour && s.current().roots.Equal(caPool(ca)) {
			continue
		}
		if err := ca.Issue(svcDir, IssueOptions{Service: svc, DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}); err != nil {
			return err
		}
	}
	return nil
}

func caPool(ca *CA) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// writeFiles writes the three files, each through a temporary file and a
// rename so that a Source reading the directory never sees half a file.
func writeFiles(dir string, cert, key, ca []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{{CAFile, ca, 0o644}, {KeyFile, key, 0o600}, {CertFile, cert, 0o644}} {
		tmp, err := os.CreateTemp(dir, "."+f.name+".*")
		if err != nil {
			return err
		}
		_, werr := tmp.Write(f.data)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), f.mode)); err != nil {
			_ = os.Remove(tmp.Name())
			return err
		}
		if err := os.Rename(tmp.Name(), filepath.Join(dir, f.name)); err != nil {
			_ = os.Remove(tmp.Name())
			return err
		}
	}
	return nil
}
