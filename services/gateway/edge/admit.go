package edge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/internal/weborigin"
)

// admit is the first step of every request, before anything reads its
// body: it identifies the client (clientAddr), takes a token of the
// client's rate limit (Config.PerIP) and a slot under the concurrency caps
// (Config.MaxConcurrent, Config.MaxConcurrentPerClient). A refused request
// is answered at once, its body unread: 429 / ResourceExhausted with
// Retry-After for the client's own limits, 503 / Unavailable with
// Retry-After when the edge as a whole is full. An admitted request goes on
// with the client in its context; release gives its slot back when it is
// done.
func (e *Edge) admit(w http.ResponseWriter, r *http.Request) (_ *http.Request, release func(), ok bool) {
	if a, _ := r.Context().Value(clientKey{}).(string); a != "" {
		return r, func() {}, true // admitted already (the gateway's own REST routes)
	}
	client := e.clientAddr(r)
	r = r.WithContext(context.WithValue(r.Context(), clientKey{}, client))
	// Media is limited per viewer (playback token), the rest per address.
	key, limit, who := client, e.perIP, "this address"
	if strings.HasPrefix(r.URL.Path, playPrefix) {
		var origins []string
		key, origins = e.playbackKey(r, client)
		limit, who = e.perPlay, "this player"
		if !e.playOriginAllowed(w, r, origins) {
			return r, nil, false
		}
	}
	if ok, wait := limit.allow(key); !ok {
		e.refuseAdmission(w, r, wait, connect.CodeResourceExhausted, "too many requests from "+who)
		return r, nil, false
	}
	switch e.inflight.acquire(key) {
	case admitClientFull:
		e.refuseAdmission(w, r, time.Second, connect.CodeResourceExhausted, "too many requests in flight from "+who)
		return r, nil, false
	case admitGlobalFull:
		e.refuseAdmission(w, r, time.Second, connect.CodeUnavailable, "the gateway is at capacity")
		return r, nil, false
	}
	return r, func() { e.inflight.release(key) }, true
}

// playbackKey is the bucket of a media request: the viewer's session and
// video, from a playback token (?token= or Authorization: Bearer) the
// edge verifies against auth's keys as streaming will; else (no token, a
// forged one, keys not at hand) the client address. So made-up tokens
// cannot spread one client over fresh buckets, and a refreshed token keeps
// its viewer's bucket. A verified token's bucket is remembered until the
// token expires: a player's segment requests pay one signature check here,
// not one each (streaming still checks every request).
//
// It also returns the allowed origins the verified token carries (nil: any,
// or no verified token).
func (e *Edge) playbackKey(r *http.Request, client string) (string, []string) {
	pv, ok := e.verifier.(PlaybackVerifier)
	tok := r.URL.Query().Get("token")
	if tok == "" {
		tok, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	videoID, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, playPrefix), "/")
	if !ok || tok == "" || videoID == "" {
		return "ip:" + client, nil
	}
	sum := sha256.Sum256([]byte(tok))
	now := e.cfg.Now()
	if w, ok := e.viewers.get(sum, videoID, now); ok {
		return w.key, w.origins
	}
	c, err := pv.VerifyPlayback(r.Context(), tok, videoID)
	if err != nil || c.ExpiresAt == nil {
		return "ip:" + client, nil
	}
	key := "token:" + hex.EncodeToString(sum[:16])
	if c.SessionID != "" {
		key = "session:" + c.SessionID + "/" + videoID
	}
	e.viewers.put(sum, viewer{key: key, videoID: videoID, exp: c.ExpiresAt.Time, origins: c.AllowedOrigins}, now)
	return key, c.AllowedOrigins
}

// playOriginAllowed checks a media request against the allowed origins of
// its verified playback token (weborigin.Allowed: Origin, else the
// Referer's origin; a request naming neither passes, the token being the
// capability; a page of the gateway's own host, the watch and embed pages,
// always passes). A refused request is answered 403 here, with a body saying
// why and no Access-Control-Allow-Origin, preflights included. Every media
// route under /play/ (manifests, segments and the licence) goes
// through it. Streaming checks again, and checks a public video's current
// list when no token was given.
func (e *Edge) playOriginAllowed(w http.ResponseWriter, r *http.Request, origins []string) bool {
	ok, origin := weborigin.Allowed(origins, r.Header, r.Host)
	if ok {
		return true
	}
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	rec.Header().Add("Vary", "Origin")
	if r.ProtoMajor == 1 && r.ContentLength != 0 {
		rec.Header().Set("Connection", "close")
	}
	rec.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rec.Header().Set("X-Content-Type-Options", "nosniff")
	rec.WriteHeader(http.StatusForbidden)
	_, _ = io.WriteString(rec, weborigin.RefusalMessage(origin))
	e.logAccess(r, rec, &requestState{}, time.Since(start))
	return false
}

// viewers remembers the bucket of each verified playback token, by the
// token's hash, until it expires.
type viewers struct {
	mu        sync.Mutex
	m         map[[sha256.Size]byte]viewer
	lastSweep time.Time
}

type viewer struct {
	key, videoID string
	exp          time.Time
	origins      []string // the token's allowed origins; nil: any
}

// maxViewers bounds the memory of viewers: past it, the map starts over
// (each live token then pays one more signature check).
const maxViewers = 200_000

func (v *viewers) get(sum [sha256.Size]byte, videoID string, now time.Time) (viewer, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	w, ok := v.m[sum]
	if !ok || w.videoID != videoID || !now.Before(w.exp) {
		return viewer{}, false
	}
	return w, true
}

func (v *viewers) put(sum [sha256.Size]byte, w viewer, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil || len(v.m) >= maxViewers {
		v.m = map[[sha256.Size]byte]viewer{}
	}
	if now.Sub(v.lastSweep) >= time.Minute {
		v.lastSweep = now
		for k, x := range v.m {
			if !now.Before(x.exp) {
				delete(v.m, k)
			}
		}
	}
	v.m[sum] = w
}

type clientKey struct{}

// refuseAdmission answers a request refused at admission in its protocol,
// with Retry-After and the CORS headers a browser needs to read it, and
// logs it.
func (e *Edge) refuseAdmission(w http.ResponseWriter, r *http.Request, wait time.Duration, code connect.Code, msg string) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	e.corsExpose(rec, r)
	rec.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
	if r.ProtoMajor == 1 && r.ContentLength != 0 {
		// Hang up after the answer rather than read the body: net/http
		// would otherwise drain a chunked one (up to 256 KiB, waiting
		// for it) before it sends the answer, to reuse the connection.
		rec.Header().Set("Connection", "close")
	}
	e.writeError(rec, r, connect.NewError(code, errors.New(msg+"; retry after the Retry-After delay")))
	e.logAccess(r, rec, &requestState{}, time.Since(start))
}

// clientIP is the client the edge identified at admission (clientAddr);
// for a request that did not pass admission, the TCP peer.
func clientIP(r *http.Request) string {
	if a, _ := r.Context().Value(clientKey{}).(string); a != "" {
		return a
	}
	return peerAddr(r)
}

func peerAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clientAddr identifies the client: the TCP peer, unless the peer is one of
// Config.TrustedProxies, in which case X-Forwarded-For names it. The list is
// read from the right (the hop nearest the edge) and the first address that
// is not a trusted proxy is the client: everything to its left was written
// by the client or by hops nobody vouches for, so a client cannot pick the
// address it is limited under. When every hop is trusted, the left-most is
// the client; an entry that is not an address stops the walk at the last
// trusted hop.
func (e *Edge) clientAddr(r *http.Request) string {
	peer := peerAddr(r)
	if len(e.cfg.TrustedProxies) == 0 {
		return peer
	}
	p, err := netip.ParseAddr(peer)
	if err != nil || !e.trustedProxy(p) {
		return peer
	}
	hops := forwardedFor(r.Header)
	client := p
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseForwarded(hops[i])
		if !ok {
			break
		}
		client = a
		if !e.trustedProxy(a) {
			break
		}
	}
	return client.String()
}

func (e *Edge) trustedProxy(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range e.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor is every X-Forwarded-For entry, in order, across the
// header's lines.
func forwardedFor(h http.Header) []string {
	var out []string
	for _, line := range h.Values("X-Forwarded-For") {
		for part := range strings.SplitSeq(line, ",") {
			out = append(out, strings.TrimSpace(part))
		}
	}
	return out
}

// parseForwarded reads one X-Forwarded-For entry: an address, with or
// without a port.
func parseForwarded(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

// inflight caps the requests in flight, in all and per client.
type inflight struct {
	max, perClient int // <= 0: no cap

	mu       sync.Mutex
	total    int
	byClient map[string]int
}

type admitResult int

const (
	admitted admitResult = iota
	admitClientFull
	admitGlobalFull
)

func newInflight(max, perClient int) *inflight {
	return &inflight{max: max, perClient: perClient, byClient: map[string]int{}}
}

func (f *inflight) acquire(client string) admitResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.perClient > 0 && f.byClient[client] >= f.perClient {
		return admitClientFull
	}
	if f.max > 0 && f.total >= f.max {
		return admitGlobalFull
	}
	f.total++
	f.byClient[client]++
	return admitted
}

func (f *inflight) release(client string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.total--
	if n := f.byClient[client] - 1; n > 0 {
		f.byClient[client] = n
	} else {
		delete(f.byClient, client)
	}
}
