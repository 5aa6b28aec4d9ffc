package worker

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	workerv1 "github.com/streamgate/streamgate/gen/go/streamgate/worker/v1"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/testing/poll"
)

const (
	alice = "0x00000000000000000000000000000000000000aa"
	bob   = "0x00000000000000000000000000000000000000bb"
)

// verify checks a StreamGate-Signature the way the contract tells receivers to.
func verify(secret, header string, body []byte, now time.Time) error {
	var ts, sig string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("bad t %q", ts)
	}
	if d := now.Sub(time.Unix(t, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("stale t")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return fmt.Errorf("signature mismatch")
	}
	return nil
}

func asWallet[T any](addr string, m *T) *connect.Request[T] {
	r := connect.NewRequest(m)
	r.Header().Set(identity.DevAddressHeader, addr)
	return r
}

func TestWebhookDelivery(t *testing.T) {
	url := startNATS(t)
	cfg := testConfig()
	cfg.DevMode = true
	s := newTestService(t, url, cfg, nil, KindOptions{})
	if err := s.bus.EnsureStreams(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := client(t, s)

	var secret atomic.Value
	var mu sync.Mutex
	var bodies []map[string]any
	var calls atomic.Int32
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := verify(secret.Load().(string), r.Header.Get(SignatureHeader), body, time.Now()); err != nil {
			t.Errorf("receiver: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		// A tampered body does not verify.
		if verify(secret.Load().(string), r.Header.Get(SignatureHeader), append(body, ' '), time.Now()) == nil {
			t.Error("tampered body verified")
		}
		if calls.Add(1) == 1 {
			http.Error(w, "try later", http.StatusInternalServerError)
			return
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		mu.Lock()
		bodies = append(bodies, m)
		mu.Unlock()
	}))
	t.Cleanup(flaky.Close)
	var goneCalls atomic.Int32
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		goneCalls.Add(1)
		w.WriteHeader(http.StatusGone)
	}))
	t.Cleanup(gone.Close)

	cr, err := c.CreateWebhook(t.Context(), asWallet(alice, &workerv1.CreateWebhookRequest{Url: flaky.URL + "/hook", EventTypes: []string{"video.ready"}}))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^whsec_[A-Za-z0-9_-]{43}$`).MatchString(cr.Msg.Secret) {
		t.Errorf("secret = %q", cr.Msg.Secret)
	}
	secret.Store(cr.Msg.Secret)
	gr, err := c.CreateWebhook(t.Context(), asWallet(alice, &workerv1.CreateWebhookRequest{Url: gone.URL, EventTypes: []string{"video.ready", "upload.completed"}}))
	if err != nil {
		t.Fatal(err)
	}
	// Bob's webhook must not see Alice's events.
	if _, err := c.CreateWebhook(t.Context(), asWallet(bob, &workerv1.CreateWebhookRequest{Url: gone.URL, EventTypes: []string{"video.ready"}})); err != nil {
		t.Fatal(err)
	}
	run(t, s)

	ev := &eventsv1.VideoReady{EventId: "evt-1", OccurTime: timestamppb.Now(), Video: &metadatav1.Video{Id: "vid_1", CreatorAddress: identityAddr(t, alice)}}
	// Published twice (a redelivered event): still one job per webhook.
	for range 2 {
		if err := s.bus.Publish(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, waitTimeout, "the second attempt to succeed", func() bool { mu.Lock(); defer mu.Unlock(); return len(bodies) == 1 })
	if b := bodies[0]; b["id"] != "evt-1" || b["type"] != "video.ready" || b["data"].(map[string]any)["video"].(map[string]any)["id"] != "vid_1" {
		t.Errorf("body = %v", b)
	}
	deliveries := func(id string) []*workerv1.WebhookDelivery {
		r, err := c.ListWebhookDeliveries(t.Context(), asWallet(alice, &workerv1.ListWebhookDeliveriesRequest{WebhookId: id}))
		if err != nil {
			t.Fatal(err)
		}
		return r.Msg.Deliveries
	}
	var ds []*workerv1.WebhookDelivery
	poll.Until(t, waitTimeout, "two logged attempts", func() bool { ds = deliveries(cr.Msg.Webhook.Id); return len(ds) == 2 })
	if ds[0].Attempt != 2 || !ds[0].Succeeded || ds[0].StatusCode != 200 || ds[1].Attempt != 1 || ds[1].Succeeded || ds[1].StatusCode != 500 || ds[1].NextAttemptTime == nil || !strings.HasPrefix(ds[1].Error, "status 500") {
		t.Errorf("deliveries = %v", ds)
	}
	poll.Until(t, waitTimeout, "the 410 attempt to be logged", func() bool { return len(deliveries(gr.Msg.Webhook.Id)) == 1 })
	jobs, _, err := s.jobs.list(t.Context(), KindWebhookDeliver, StateDead, 10, "")
	if err != nil || len(jobs) != 1 || jobs[0].Attempts != 1 {
		t.Errorf("410 job: %+v, %v; want one DEAD job after one attempt", jobs, err)
	}
	if n := goneCalls.Load(); n != 1 {
		t.Errorf("410 endpoint called %d times (Bob's must not be), want 1", n)
	}
	if _, err := c.ListWebhookDeliveries(t.Context(), asWallet(bob, &workerv1.ListWebhookDeliveriesRequest{WebhookId: cr.Msg.Webhook.Id})); codeOf(err) != connect.CodeNotFound {
		t.Errorf("Bob lists Alice's deliveries: %v, want NotFound", err)
	}
}

func TestWebhookRPCs(t *testing.T) {
	s := newTestService(t, startNATS(t), testConfig(), nil, KindOptions{})
	c := client(t, s)
	ctx := t.Context()
	if _, err := c.ListWebhooks(ctx, connect.NewRequest(&workerv1.ListWebhooksRequest{})); codeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("anonymous ListWebhooks: %v", err)
	}
	for name, req := range map[string]*workerv1.CreateWebhookRequest{
		"http outside dev":  {Url: "http://example.com/h", EventTypes: []string{"video.ready"}},
		"loopback":          {Url: "https://127.0.0.1/h", EventTypes: []string{"video.ready"}},
		"private":           {Url: "https://10.1.2.3/h", EventTypes: []string{"video.ready"}},
		"link-local":        {Url: "https://169.254.169.254/latest", EventTypes: []string{"video.ready"}},
		"localhost":         {Url: "https://localhost/h", EventTypes: []string{"video.ready"}},
		"user info":         {Url: "https://u:p@93.184.215.14/h", EventTypes: []string{"video.ready"}},
		"fragment":          {Url: "https://93.184.215.14/h#x", EventTypes: []string{"video.ready"}},
		"no events":         {Url: "https://93.184.215.14/h"},
		"unknown event":     {Url: "https://93.184.215.14/h", EventTypes: []string{"video.deleted"}},
		"duplicate event":   {Url: "https://93.184.215.14/h", EventTypes: []string{"video.ready", "video.ready"}},
		"relative":          {Url: "/h", EventTypes: []string{"video.ready"}},
		"long request_id":   {Url: "https://93.184.215.14/h", EventTypes: []string{"video.ready"}, RequestId: strings.Repeat("r", 65)},
		"ipv6 loopback":     {Url: "https://[::1]/h", EventTypes: []string{"video.ready"}},
		"mapped v4 private": {Url: "https://[::ffff:192.168.0.1]/h", EventTypes: []string{"video.ready"}},
		"shared address":    {Url: "https://100.64.0.1/h", EventTypes: []string{"video.ready"}},
		"benchmarking":      {Url: "https://198.18.0.1/h", EventTypes: []string{"video.ready"}},
		"nat64 private":     {Url: "https://[64:ff9b::a00:1]/h", EventTypes: []string{"video.ready"}},
	} {
		if _, err := c.CreateWebhook(ctx, asWallet(alice, req)); codeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("CreateWebhook %s: %v, want InvalidArgument", name, err)
		}
	}
	mk := func(rid string) *connect.Response[workerv1.CreateWebhookResponse] {
		r, err := c.CreateWebhook(ctx, asWallet(alice, &workerv1.CreateWebhookRequest{Url: "https://93.184.215.14/h", EventTypes: []string{"video.ready"}, RequestId: rid}))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	first := mk("req-1")
	if again := mk("req-1"); again.Msg.Webhook.Id != first.Msg.Webhook.Id || again.Msg.Secret != first.Msg.Secret {
		t.Error("retry with the same request_id made a new webhook")
	}
	if first.Msg.Webhook.OwnerAddress != identityAddr(t, alice) {
		t.Errorf("owner = %s", first.Msg.Webhook.OwnerAddress)
	}
	for range maxWebhooks - 1 {
		mk("")
	}
	if _, err := c.CreateWebhook(ctx, asWallet(alice, &workerv1.CreateWebhookRequest{Url: "https://93.184.215.14/h", EventTypes: []string{"video.ready"}})); codeOf(err) != connect.CodeResourceExhausted {
		t.Errorf("11th webhook: %v, want ResourceExhausted", err)
	}
	var all []string
	token := ""
	for {
		r, err := c.ListWebhooks(ctx, asWallet(alice, &workerv1.ListWebhooksRequest{PageSize: 3, PageToken: token}))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range r.Msg.Webhooks {
			all = append(all, w.Id)
		}
		if token = r.Msg.NextPageToken; token == "" {
			break
		}
	}
	if len(all) != maxWebhooks || all[len(all)-1] != first.Msg.Webhook.Id {
		t.Errorf("listed %v, want %d newest first", all, maxWebhooks)
	}
	if r, _ := c.ListWebhooks(ctx, asWallet(bob, &workerv1.ListWebhooksRequest{})); len(r.Msg.Webhooks) != 0 {
		t.Errorf("Bob sees %v", r.Msg.Webhooks)
	}
	if _, err := c.ListWebhooks(ctx, asWallet(alice, &workerv1.ListWebhooksRequest{PageToken: "!!"})); codeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("bad token: %v", err)
	}
	if _, err := c.DeleteWebhook(ctx, asWallet(bob, &workerv1.DeleteWebhookRequest{WebhookId: first.Msg.Webhook.Id})); codeOf(err) != connect.CodeNotFound {
		t.Errorf("Bob deletes Alice's webhook: %v, want NotFound", err)
	}
	if _, err := c.DeleteWebhook(ctx, asWallet(alice, &workerv1.DeleteWebhookRequest{WebhookId: first.Msg.Webhook.Id})); err != nil {
		t.Errorf("delete: %v", err)
	}
	if _, err := c.DeleteWebhook(ctx, asWallet(alice, &workerv1.DeleteWebhookRequest{WebhookId: first.Msg.Webhook.Id})); codeOf(err) != connect.CodeNotFound {
		t.Errorf("second delete: %v, want NotFound", err)
	}
}

func identityAddr(t *testing.T, a string) string {
	t.Helper()
	n, err := identity.NormalizeAddress(a)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
