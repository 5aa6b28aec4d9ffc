package meshtls_test

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"
)

// peerHandshake connects dialer to listener over loopback and returns the
// handshake error of each end.
func peerHandshake(t *testing.T, dialer, listener *tls.Config) (dialErr, acceptErr error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			accepted <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		accepted <- tls.Server(c, listener).Handshake()
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	dialErr = tls.Client(c, dialer).Handshake()
	return dialErr, <-accepted
}

func TestPeerConfig(t *testing.T) {
	ca, _ := newCA(t)
	n1, n2 := issue(t, ca, "nats"), issue(t, ca, "nats")

	if dialErr, acceptErr := peerHandshake(t, n1.PeerConfig("nats"), n2.PeerConfig("nats")); dialErr != nil || acceptErr != nil {
		t.Fatalf("two nats peers: dial err = %v, accept err = %v; want both nil", dialErr, acceptErr)
	}

	// A service certificate is not a peer: refused whichever end it is.
	upload := issue(t, ca, "upload")
	if _, acceptErr := peerHandshake(t, upload.PeerConfig("nats"), n1.PeerConfig("nats")); acceptErr == nil || !strings.Contains(acceptErr.Error(), "does not name") {
		t.Errorf("upload dialling a nats peer: accept err = %v, want the name refused", acceptErr)
	}
	if dialErr, _ := peerHandshake(t, n1.PeerConfig("nats"), upload.PeerConfig("nats")); dialErr == nil || !strings.Contains(dialErr.Error(), "does not name") {
		t.Errorf("nats peer dialling upload: dial err = %v, want the name refused", dialErr)
	}

	// Another CA's "nats" is refused.
	rogue, _ := newCA(t)
	impostor := issue(t, rogue, "nats")
	if _, acceptErr := peerHandshake(t, impostor.PeerConfig("nats"), n1.PeerConfig("nats")); acceptErr == nil || !strings.Contains(acceptErr.Error(), "certificate") {
		t.Errorf("nats of another CA dialling: accept err = %v, want a certificate error", acceptErr)
	}

	// A peer that shows no certificate at all.
	if _, acceptErr := peerHandshake(t, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}, n1.PeerConfig("nats")); acceptErr == nil {
		t.Error("a dialler with no certificate was accepted")
	}
}
