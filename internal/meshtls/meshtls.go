// Package meshtls is the mutual TLS of the mesh: every service's listener
// and every call between services. Each process reads its certificate, key
// and the mesh CA from one directory in the layout of a Kubernetes TLS
// Secret as cert-manager writes it (tls.crt, tls.key, ca.crt), and picks up
// rotated files without a restart. A certificate names its service with a
// SPIFFE-style URI SAN, spiffe://<trust-domain>/svc/<service>: a server
// takes only clients whose certificate chains to the CA and names a service
// of the trust domain, and a client talks only to a server whose
// certificate names exactly the service it meant to call.
//
// The package also issues certificates (NewCA, CA.Issue), for the dev and
// cluster launchers and `streamgate certs`.
package meshtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"strings"
)

// The files of a certificate directory.
const (
	CertFile = "tls.crt" // PEM leaf certificate, optionally followed by intermediates
	KeyFile  = "tls.key" // PEM private key (PKCS #8, SEC 1 or PKCS #1)
	CAFile   = "ca.crt"  // PEM certificates of the CA(s) peers must chain to
)

// DefaultTrustDomain is the trust domain when none is configured.
const DefaultTrustDomain = "streamgate.local"

// ServiceURI is the URI SAN that names service in trustDomain:
// spiffe://<trust-domain>/svc/<service>.
func ServiceURI(trustDomain, service string) *url.URL {
	return &url.URL{Scheme: "spiffe", Host: trustDomain, Path: "/svc/" + service}
}

// serviceOf returns the service a certificate names, and its trust domain:
// the one URI SAN of the form spiffe://<td>/svc/<service>.
func serviceOf(cert *x509.Certificate) (service, trustDomain string, ok bool) {
	for _, u := range cert.URIs {
		if u.Scheme != "spiffe" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			continue
		}
		name, found := strings.CutPrefix(u.Path, "/svc/")
		if !found || name == "" || strings.Contains(name, "/") {
			continue
		}
		return name, u.Host, true
	}
	return "", "", false
}

// PeerService is the service that made request r over the mesh: the one its
// client certificate names. ok is false for a request that did not come
// over mesh TLS (h2c, the gateway's public listener). The certificate was
// verified during the handshake (chain to the CA, trust domain), so the
// name can be trusted as far as the CA is.
func PeerService(r *http.Request) (service string, ok bool) {
	if r == nil {
		return "", false
	}
	return PeerServiceOf(r.TLS)
}

// PeerServiceOf is PeerService for a connection's state.
func PeerServiceOf(cs *tls.ConnectionState) (service string, ok bool) {
	if cs == nil || !cs.HandshakeComplete || len(cs.PeerCertificates) == 0 {
		return "", false
	}
	svc, _, ok := serviceOf(cs.PeerCertificates[0])
	return svc, ok
}

type peerKey struct{}

// WithPeerService wraps h so that handlers deeper in, Connect interceptors
// included, find the calling service with PeerServiceFromContext.
func WithPeerService(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if svc, ok := PeerService(r); ok {
			r = r.WithContext(context.WithValue(r.Context(), peerKey{}, svc))
		}
		h.ServeHTTP(w, r)
	})
}

// PeerServiceFromContext is the calling service WithPeerService recorded.
func PeerServiceFromContext(ctx context.Context) (service string, ok bool) {
	svc, ok := ctx.Value(peerKey{}).(string)
	return svc, ok
}
