package edge_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamgate/streamgate/internal/catalog"
	"github.com/streamgate/streamgate/services/gateway/edge"
)

// countingListener counts the bytes the server reads from its connections.
type countingListener struct {
	net.Listener
	read atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, read: &l.read}, nil
}

type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// upstream answers the plain media route (/play/...) with the
// X-Forwarded-For the edge sent, and holds each call while hold is set until
// it is released: calls in flight for the concurrency caps.
type upstream struct {
	hold    atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func newUpstream() *upstream {
	return &upstream{entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (u *upstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if u.hold.Load() {
		u.entered <- struct{}{}
		select {
		case <-u.release:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"text/plain"}},
		Body:    io.NopCloser(strings.NewReader(r.Header.Get("X-Forwarded-For"))),
		Request: r,
	}, nil
}

// startEdge serves an edge over up on a loopback listener that counts
// the bytes the server reads; it returns the base URL and the listener.
func startEdge(t *testing.T, cfg edge.Config, up http.RoundTripper) (string, *countingListener, *syncBuffer) {
	t.Helper()
	if cfg.PerIdentity == (edge.RateLimit{}) {
		cfg.PerIdentity = edge.RateLimit{Rate: -1}
	}
	logs := &syncBuffer{}
	e, err := edge.New(cfg, up, catalog.Default(), nil, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	hs := &http.Server{Handler: e, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = hs.Serve(cl) }()
	t.Cleanup(func() { _ = hs.Close() })
	return "http://" + ln.Addr().String(), cl, logs
}

// get sends one request, no keep-alive, with the given X-Forwarded-For (if
// any), and returns the status, the Retry-After and the body.
func get(t *testing.T, url, xff string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	req.Close = true
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Retry-After"), string(body)
}

// rawRequest sends head on a new connection, then, unless bodyBytes is 0,
// streams that many body bytes in the background (stopping at the first
// write error: the server hung up), and returns the response. The
// deadline only keeps a broken edge from hanging the test: an edge that
// waited for a body that never comes would answer nothing.
func rawRequest(t *testing.T, base, head string, bodyBytes int64) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(func() { _ = conn.Close() })
	if bodyBytes > 0 {
		wg.Go(func() {
			chunk := make([]byte, 64<<10)
			for i := range chunk {
				chunk[i] = '['
			}
			for sent := int64(0); sent < bodyBytes; sent += int64(len(chunk)) {
				if _, err := conn.Write(chunk); err != nil {
					return
				}
			}
		})
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a request whose body the edge should not read: %v", err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res
}

// TestAdmissionBeforeBody: a client past its rate limit is refused before
// the edge reads a byte of its body, on the REST routes (whose JSON bodies,
// up to 8 MiB, the edge otherwise buffers to check) and the RPC routes: a
// 100 MB body is answered 429 after the server read no more than its first
// buffer, and a body that never arrives does not hold the answer.
func TestAdmissionBeforeBody(t *testing.T) {
	const body = 100 << 20
	base, ln, _ := startEdge(t, edge.Config{PerIP: edge.RateLimit{Rate: 0.001, Burst: 1}}, newUpstream())
	// The first call takes the address's one token.
	if res := rawRequest(t, base, "GET /streamgate.metadata.v1.MetadataService/GetVideo HTTP/1.1\r\nHost: edge\r\n\r\n", 0); res.StatusCode == http.StatusTooManyRequests {
		t.Fatalf("first call: %d, want it admitted (within the burst)", res.StatusCode)
	}
	for _, tc := range []struct {
		name, head string
		stream     bool
	}{
		{"REST body streamed", "POST /v1/videos HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", true},
		{"REST body never sent", "POST /v1/videos HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", false},
		{"REST chunked body never sent", "PATCH /v1/videos/vid_1 HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%.0d", false},
		{"Connect body streamed", "POST /streamgate.metadata.v1.MetadataService/GetVideo HTTP/1.1\r\nHost: edge\r\nContent-Type: application/proto\r\nContent-Length: %d\r\n\r\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ln.read.Load()
			head := fmt.Sprintf(tc.head, body)
			n := int64(0)
			if tc.stream {
				n = body
			}
			res := rawRequest(t, base, head, n)
			if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
				t.Errorf("status %d, Retry-After %q; want 429 with a delay", res.StatusCode, res.Header.Get("Retry-After"))
			}
			// The server's reads are of its 4 KiB buffer: the head and at
			// most the start of the body. Buffering the body would have
			// read 8 MiB (the REST bound) or the whole 100 MB.
			if read := ln.read.Load() - before; read > 64<<10 {
				t.Errorf("the edge read %d bytes of a refused request, want the head and at most a buffer's worth", read)
			}
		})
	}
}

// TestConcurrencyCaps: requests in flight are capped per client (429 with
// Retry-After) and in all (503 with Retry-After), before any body is read,
// and a finished request gives its slot back. Clients are told apart
// through a trusted proxy's X-Forwarded-For.
func TestConcurrencyCaps(t *testing.T) {
	up := newUpstream()
	base, _, logs := startEdge(t, edge.Config{
		PerIP:                  edge.RateLimit{Rate: -1},
		MaxConcurrent:          3,
		MaxConcurrentPerClient: 2,
		TrustedProxies:         []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	}, up)
	const a, b = "198.51.100.1", "198.51.100.2"
	up.hold.Store(true)
	var wg sync.WaitGroup
	held := func(client string) {
		wg.Go(func() {
			if status, _, _ := get(t, base+"/play/vid_1/seg.ts", client); status != http.StatusOK {
				t.Errorf("held call from %s: %d, want 200 once released", client, status)
			}
		})
		<-up.entered
	}
	held(a)
	held(a)
	status, retry, _ := get(t, base+"/play/vid_1/seg.ts", a)
	if status != http.StatusTooManyRequests || retry == "" {
		t.Errorf("a third call in flight from one client: %d, Retry-After %q; want 429 with a delay", status, retry)
	}
	// The REST route is refused the same way, before its body.
	res := rawRequest(t, base, "POST /v1/videos HTTP/1.1\r\nHost: edge\r\nX-Forwarded-For: "+a+"\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n", 0)
	if res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a REST call past the client's cap with a body never sent: %d, want 429", res.StatusCode)
	}
	held(b) // the third in flight: the edge is full
	status, retry, _ = get(t, base+"/play/vid_1/seg.ts", b)
	if status != http.StatusServiceUnavailable || retry == "" {
		t.Errorf("a call past the global cap: %d, Retry-After %q; want 503 with a delay", status, retry)
	}
	close(up.release)
	wg.Wait()
	up.hold.Store(false)
	for _, c := range []string{a, a, b} {
		if status, _, _ := get(t, base+"/play/vid_1/seg.ts", c); status != http.StatusOK {
			t.Errorf("after the held calls ended, a call from %s: %d, want 200", c, status)
		}
	}
	if !strings.Contains(logs.String(), `"status":503`) || !strings.Contains(logs.String(), `"ip":"`+a+`"`) {
		t.Errorf("the access log lacks the refusals or the forwarded client:\n%s", logs.String())
	}
}

// TestTrustedProxies: X-Forwarded-For names the client only when the TCP
// peer is a trusted proxy, and then it is the right-most address that is
// not a trusted proxy: a client cannot pick the address it is limited
// under by sending a chain of its own.
func TestTrustedProxies(t *testing.T) {
	// The upstream echoes the X-Forwarded-For the edge sent it: the
	// client the edge identified.
	t.Run("untrusted peer", func(t *testing.T) {
		base, _, _ := startEdge(t, edge.Config{PerIP: edge.RateLimit{Rate: 0.001, Burst: 1}, PerPlayback: edge.RateLimit{Rate: 0.001, Burst: 1}}, newUpstream())
		status, _, client := get(t, base+"/play/vid_1/master.m3u8", "198.51.100.1")
		if status != http.StatusOK || client != "127.0.0.1" {
			t.Errorf("first call: %d, client %q; want 200 and the peer 127.0.0.1", status, client)
		}
		// Another forwarded address does not escape the peer's limit.
		if status, _, _ := get(t, base+"/play/vid_1/master.m3u8", "198.51.100.2"); status != http.StatusTooManyRequests {
			t.Errorf("second call naming another client: %d, want 429 (keyed on the peer)", status)
		}
	})
	t.Run("trusted peer", func(t *testing.T) {
		trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
		base, _, _ := startEdge(t, edge.Config{PerIP: edge.RateLimit{Rate: -1}, PerPlayback: edge.RateLimit{Rate: -1}, TrustedProxies: trusted}, newUpstream())
		for _, tc := range []struct{ xff, want string }{
			{"", "127.0.0.1"},                                        // no header: the proxy itself
			{"198.51.100.7", "198.51.100.7"},                         // one hop
			{"203.0.113.9, 198.51.100.7", "198.51.100.7"},            // the client's own spoofed entry is left of it
			{"10.0.0.5, 198.51.100.7", "198.51.100.7"},               // a spoofed trusted address changes nothing
			{"198.51.100.7, 10.0.0.1", "198.51.100.7"},               // through an inner trusted hop
			{"198.51.100.7, ::ffff:10.0.0.1", "198.51.100.7"},        // trusted, IPv4-mapped
			{"garbage, 198.51.100.7", "198.51.100.7"},                // garbage left of the client is never read
			{"198.51.100.7, garbage", "127.0.0.1"},                   // garbage from a trusted hop: stop at the last trusted one
			{"10.0.0.9, 10.0.0.1", "10.0.0.9"},                       // all trusted: the left-most
			{"2001:db8::1", "2001:db8::1"},                           // IPv6
			{"[2001:db8::2]:443, 198.51.100.3:5000", "198.51.100.3"}, // with ports
		} {
			if _, _, got := get(t, base+"/play/vid_1/master.m3u8", tc.xff); got != tc.want {
				t.Errorf("X-Forwarded-For %q: client %q, want %q", tc.xff, got, tc.want)
			}
		}
	})
	t.Run("trusted peer, rate limit keyed on the forwarded client", func(t *testing.T) {
		trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		base, _, _ := startEdge(t, edge.Config{PerIP: edge.RateLimit{Rate: 0.001, Burst: 1}, PerPlayback: edge.RateLimit{Rate: 0.001, Burst: 1}, TrustedProxies: trusted}, newUpstream())
		if status, _, _ := get(t, base+"/play/x", "198.51.100.7"); status != http.StatusOK {
			t.Fatalf("first call: %d", status)
		}
		// The same client behind a spoofed left-hand entry is still
		// the same client.
		if status, _, _ := get(t, base+"/play/x", "203.0.113.1, 198.51.100.7"); status != http.StatusTooManyRequests {
			t.Errorf("a spoofed chain ending at the limited client: %d, want 429", status)
		}
		// Another client behind the same proxy has its own bucket.
		if status, _, _ := get(t, base+"/play/x", "198.51.100.8"); status != http.StatusOK {
			t.Errorf("another client behind the proxy: %d, want 200", status)
		}
	})
}
