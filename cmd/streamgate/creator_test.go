package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/events/eventstest"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/mediaprobe"
	"github.com/streamgate/streamgate/services/metadata"
	"github.com/streamgate/streamgate/services/upload"
	"github.com/streamgate/streamgate/services/worker"
)

const (
	alice = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	bob   = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
)

// metadataVideos is upload's view of metadata, as the node wires it: a
// Connect call.
type metadataVideos struct {
	client metadatav1connect.MetadataServiceClient
}

func (m metadataVideos) CreateVideo(ctx context.Context, req *metadatav1.CreateVideoRequest) (*metadatav1.Video, error) {
	res, err := m.client.CreateVideo(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetVideo(), nil
}

// startCreatorServices serves the real metadata (SQLite), upload and
// worker services on one in-process server, on an embedded NATS, with the
// identity interceptor in dev mode: what the creator commands call through
// the gateway, with the dev identity header standing in for a session.
func startCreatorServices(t *testing.T) string {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	_, bus := eventstest.Bus(t)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	ident := connect.WithInterceptors(identity.NewInterceptor(true))

	meta, err := metadata.New(metadata.Config{DatabaseURL: filepath.Join(t.TempDir(), "metadata.db")}, nil, bus, logger)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(meta.Handler(ident))
	blobs, err := blob.NewLocal(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	probe, err := mediaprobe.New(mediaprobe.Config{})
	if err != nil {
		t.Fatal(err)
	}
	up, err := upload.New(upload.Config{DevMode: true, PublicBaseURL: srv.URL, DataDir: t.TempDir()},
		metadataVideos{metadatav1connect.NewMetadataServiceClient(srv.Client(), srv.URL)}, bus, blobs, probe, logger)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(up.Handler(ident))
	for p, h := range up.HTTPHandlers() {
		mux.Handle(p, h)
	}
	wrk, err := worker.New(worker.Config{DevMode: true, DataDir: t.TempDir(), ScanInterval: 100 * time.Millisecond}, bus, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(wrk.Handler(ident))

	runCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{meta.Run, up.Run, wrk.Run} {
		wg.Go(func() { _ = run(runCtx) })
	}
	t.Cleanup(func() {
		stop()
		wg.Wait()
		srv.Close()
		up.Close()
		meta.Close()
	})
	return srv.URL
}

// videoDoc is the part of `video get --json` the tests read.
type videoDoc struct {
	Video struct {
		ID           string     `json:"id"`
		Title        string     `json:"title"`
		Description  string     `json:"description"`
		Tags         []string   `json:"tags"`
		Status       string     `json:"status"`
		Etag         string     `json:"etag"`
		AccessPolicy *policyDoc `json:"access_policy"`
	} `json:"video"`
}

type policyDoc struct {
	Mode  string `json:"mode"`
	Rules []struct {
		ChainID    string  `json:"chain_id"`
		Contract   string  `json:"contract_address"`
		Standard   string  `json:"standard"`
		TokenID    *string `json:"token_id"`
		MinBalance string  `json:"min_balance"`
	} `json:"rules"`
}

func decode[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, out)
	}
	return v
}

// wantFailure runs a command that must fail with exit 1, the JSON error
// code and a stderr that says each of the parts.
func wantFailure(t *testing.T, code string, parts []string, args ...string) {
	t.Helper()
	exit, out, errOut := cli(t, append(args, "--json")...)
	e := decode[jsonError](t, out)
	if exit != 1 || e.Error.Code != code {
		t.Errorf("streamgate %s: exit %d, stdout %q; want 1 and a %s JSON error", strings.Join(args, " "), exit, out, code)
	}
	for _, p := range parts {
		if !strings.Contains(errOut, p) {
			t.Errorf("streamgate %s: stderr %q lacks %q", strings.Join(args, " "), errOut, p)
		}
	}
}

// TestCreatorCommands drives upload's metadata flags and the video
// commands against the real metadata and upload services.
func TestCreatorCommands(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // no stored session: the dev header
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	srv := startCreatorServices(t)
	as := func(who string, args ...string) []string { return append(args, "--server", srv, "--dev-address", who) }
	pass := strings.ToLower(specAddr)

	out := mustCLI(t, as(alice, "upload", makeTestClip(t), "--title", "Lisbon", "--description", "Trams and tiles",
		"--tags", "travel, Lisbon", "--policy", "erc721:1337:"+pass, "--policy", "erc1155:1:"+specAddr+":7:2", "--any", "--packaging", "encrypted", "--json")...)
	id := decode[map[string]string](t, lastLine(out))["video_id"]

	v := decode[videoDoc](t, mustCLI(t, as(alice, "video", "get", id, "--json")...)).Video
	p := v.AccessPolicy
	if v.ID != id || v.Title != "Lisbon" || v.Description != "Trams and tiles" || strings.Join(v.Tags, ",") != "travel,lisbon" || v.Etag == "" ||
		p == nil || p.Mode != "ACCESS_MODE_ANY" || len(p.Rules) != 2 || p.Rules[0].Contract != specAddr || p.Rules[0].ChainID != "1337" ||
		p.Rules[1].Standard != "TOKEN_STANDARD_ERC1155" || p.Rules[1].TokenID == nil || *p.Rules[1].TokenID != "7" || p.Rules[1].MinBalance != "2" {
		t.Fatalf("video get --json after upload = %+v (policy %+v)", v, p)
	}
	human := mustCLI(t, as(alice, "video", "get", id)...)
	for _, want := range []string{"title:", "Lisbon", "Trams and tiles", "travel, lisbon", "gated: viewers need one of: an ERC-721 token of " + specAddr + " on chain 1337", "packaging:", "encrypted", "etag:"} {
		if !strings.Contains(human, want) {
			t.Errorf("video get lacks %q:\n%s", want, human)
		}
	}

	t.Run("update changes only the fields given", func(t *testing.T) {
		u := decode[videoDoc](t, mustCLI(t, as(alice, "video", "update", id, "--title", "Lisbon by tram", "--tags", "", "--json")...)).Video
		if u.Title != "Lisbon by tram" || len(u.Tags) != 0 || u.Description != "Trams and tiles" || u.Etag == v.Etag || u.AccessPolicy == nil {
			t.Errorf("after update = %+v", u)
		}
		// The etag read before is stale now: refused, nothing changed.
		wantFailure(t, "aborted", []string{"changed since its etag was read", "video get"}, as(alice, "video", "update", id, "--description", "x", "--etag", v.Etag)...)
		// Another wallet may not, and is told it went without a session.
		wantFailure(t, "permission_denied", []string{"no session for " + srv, bob, "streamgate login"}, as(bob, "video", "update", id, "--title", "mine")...)
		wantFailure(t, "invalid_argument", []string{"tag"}, as(alice, "video", "update", id, "--tags", "no spaces allowed")...)
		if got := decode[videoDoc](t, mustCLI(t, as(alice, "video", "get", id, "--json")...)).Video; got.Description != "Trams and tiles" || got.Title != "Lisbon by tram" {
			t.Errorf("refused updates changed the video: %+v", got)
		}
	})

	t.Run("policy prints, sets and reads back its own JSON", func(t *testing.T) {
		human := mustCLI(t, as(alice, "video", "policy", id)...)
		flags := "as flags: --policy erc721:1337:" + specAddr + " --policy erc1155:1:" + specAddr + ":7:2 --any"
		if !strings.Contains(human, "gated: viewers need one of") || !strings.Contains(human, flags) {
			t.Errorf("video policy printed:\n%s\nwant the policy in words and %q", human, flags)
		}
		saved := filepath.Join(t.TempDir(), "policy.json")
		if err := os.WriteFile(saved, []byte(mustCLI(t, as(alice, "video", "policy", id, "--json")...)), 0o600); err != nil {
			t.Fatal(err)
		}
		pub := decode[policyDoc](t, mustCLI(t, as(alice, "video", "policy", id, "--public", "--json")...))
		if pub.Mode != "ACCESS_MODE_PUBLIC" || len(pub.Rules) != 0 {
			t.Errorf("--public = %+v", pub)
		}
		if out := mustCLI(t, as(alice, "video", "policy", id)...); !strings.Contains(out, "public: anyone may watch") {
			t.Errorf("public video's policy printed %q", out)
		}
		back := decode[policyDoc](t, mustCLI(t, as(alice, "video", "policy", id, "--policy-file", saved, "--json")...))
		if back.Mode != "ACCESS_MODE_ANY" || len(back.Rules) != 2 {
			t.Errorf("--policy-file of the saved JSON = %+v", back)
		}
		out := mustCLI(t, as(alice, "video", "policy", id, "--policy", "erc20:1:"+pass+":1000")...)
		if !strings.Contains(out, "set; it applies to the next playback token") || !strings.Contains(out, "erc20:1:"+specAddr+":1000") {
			t.Errorf("video policy --policy printed %q", out)
		}
		wantFailure(t, "permission_denied", nil, as(bob, "video", "policy", id, "--public")...)
	})

	t.Run("delete", func(t *testing.T) {
		d := decode[videoDoc](t, mustCLI(t, as(alice, "video", "delete", id, "--json")...)).Video
		if d.Status != "VIDEO_STATUS_DELETED" {
			t.Errorf("video delete --json = %+v", d)
		}
		if out := mustCLI(t, as(alice, "video", "delete", id)...); !strings.Contains(out, "deleted "+id) {
			t.Errorf("deleting again printed %q", out)
		}
		if got := decode[videoDoc](t, mustCLI(t, as(alice, "video", "get", id, "--json")...)).Video; got.Status != "VIDEO_STATUS_DELETED" {
			t.Errorf("the creator sees the deleted video as %s", got.Status)
		}
		wantFailure(t, "not_found", nil, as(bob, "video", "get", id)...)
		wantFailure(t, "failed_precondition", []string{"deleted"}, as(alice, "video", "update", id, "--title", "again")...)
	})
}

// receiver is a webhook endpoint that checks each request's signature.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	status int
	got    []string // event types whose signature verified
	bad    []string
}

func newReceiver(t *testing.T, status int) *receiver {
	r := &receiver{status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var ev struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(body, &ev)
		r.mu.Lock()
		defer r.mu.Unlock()
		ts, v1, _ := strings.Cut(req.Header.Get("StreamGate-Signature"), ",")
		mac := hmac.New(sha256.New, []byte(r.secret))
		mac.Write([]byte(strings.TrimPrefix(ts, "t=") + "."))
		mac.Write(body)
		if hmac.Equal([]byte(strings.TrimPrefix(v1, "v1=")), []byte(hex.EncodeToString(mac.Sum(nil)))) {
			r.got = append(r.got, ev.Type)
		} else {
			r.bad = append(r.bad, req.Header.Get("StreamGate-Signature"))
		}
		w.WriteHeader(r.status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// TestWebhookCommands drives the webhook commands against the real worker
// service, delivering to endpoints in this test.
func TestWebhookCommands(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	srv := startCreatorServices(t)
	as := func(who string, args ...string) []string { return append(args, "--server", srv, "--dev-address", who) }

	ok := newReceiver(t, http.StatusNoContent)
	code, out, errOut := cli(t, as(alice, "webhook", "create", "--url", ok.srv.URL+"/hook", "--events", "video.ready,upload.completed")...)
	if code != 0 || !strings.Contains(errOut, "shown only this once") {
		t.Fatalf("webhook create: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	fields := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(l, ":")
		fields[k] = strings.TrimSpace(v)
	}
	id, secret := fields["webhook"], fields["secret"]
	if !strings.HasPrefix(id, "whk_") || !strings.HasPrefix(secret, "whsec_") || fields["events"] != "video.ready, upload.completed" {
		t.Fatalf("webhook create printed %q", out)
	}
	ok.mu.Lock()
	ok.secret = secret
	ok.mu.Unlock()

	failing := newReceiver(t, http.StatusInternalServerError)
	created := decode[struct {
		Webhook struct {
			ID     string   `json:"id"`
			URL    string   `json:"url"`
			Events []string `json:"event_types"`
		} `json:"webhook"`
		Secret string `json:"secret"`
	}](t, mustCLI(t, as(alice, "webhook", "create", "--url", failing.srv.URL, "--events", "video.failed", "--json")...))
	if !strings.HasPrefix(created.Secret, "whsec_") || created.Webhook.URL != failing.srv.URL {
		t.Fatalf("webhook create --json = %+v", created)
	}
	failing.secret = created.Secret

	listed := decode[struct {
		Webhooks []struct {
			ID string `json:"id"`
		} `json:"webhooks"`
		Next *string `json:"next_page_token"`
	}](t, mustCLI(t, as(alice, "webhook", "ls", "--json")...))
	if len(listed.Webhooks) != 2 || listed.Next == nil {
		t.Errorf("webhook ls --json = %+v, want both", listed)
	}
	if table := mustCLI(t, as(alice, "webhook", "ls")...); !strings.Contains(table, id) || !strings.Contains(table, "video.ready,upload.completed") || strings.Contains(table, "whsec_") {
		t.Errorf("webhook ls table:\n%s", table)
	}
	if out := mustCLI(t, as(bob, "webhook", "ls")...); !strings.Contains(out, "no webhooks") {
		t.Errorf("another wallet's webhook ls = %q", out)
	}

	// The test event reaches the endpoint signed with the printed secret.
	if out := mustCLI(t, as(alice, "webhook", "test", id)...); !strings.Contains(out, "attempt 1: answered 204") {
		t.Errorf("webhook test printed %q", out)
	}
	ok.mu.Lock()
	if len(ok.got) != 1 || ok.got[0] != "webhook.test" || len(ok.bad) != 0 {
		t.Errorf("endpoint received %v verified, %v not", ok.got, ok.bad)
	}
	ok.mu.Unlock()

	// A failing endpoint: exit 1, one JSON document that says why.
	code, out, errOut = cli(t, as(alice, "webhook", "test", created.Webhook.ID, "--json")...)
	res := decode[struct {
		JobID    string `json:"job_id"`
		EventID  string `json:"event_id"`
		Delivery struct {
			StatusCode int    `json:"status_code"`
			Succeeded  bool   `json:"succeeded"`
			Error      string `json:"error"`
		} `json:"delivery"`
	}](t, out)
	if code != 1 || res.Delivery.StatusCode != 500 || res.Delivery.Succeeded || !strings.HasPrefix(res.EventID, "webhook.test:") || !strings.Contains(errOut, "did not accept") {
		t.Errorf("webhook test of a failing endpoint: exit %d, stdout %s, stderr %s", code, out, errOut)
	}

	wantFailure(t, "not_found", nil, as(bob, "webhook", "test", id)...)
	wantFailure(t, "not_found", nil, as(bob, "webhook", "rm", id)...)
	if out := mustCLI(t, as(alice, "webhook", "rm", id, "--json")...); decode[map[string]string](t, out)["webhook_id"] != id {
		t.Errorf("webhook rm --json = %q", out)
	}
	wantFailure(t, "not_found", nil, as(alice, "webhook", "rm", id)...)
	if out := mustCLI(t, as(alice, "webhook", "ls")...); strings.Contains(out, id) {
		t.Errorf("removed webhook still listed:\n%s", out)
	}
	wantFailure(t, "invalid_argument", nil, as(alice, "webhook", "create", "--url", "https://example.com/h", "--events", "video.exploded")...)
}

func TestCreatorUsage(t *testing.T) {
	vid := "vid_01JAAAAAAAAAAAAAAAAAAAAAAA"
	for _, args := range [][]string{
		{"video"},
		{"video", "rename", vid},
		{"video", "get"},
		{"video", "get", vid, vid},
		{"video", "get", "../../etc/passwd"},
		{"video", "get", vid, "--server", "ftp://x"},
		{"video", "update", vid},
		{"video", "update", vid, "--title", " "},
		{"video", "update", vid, "--tags", "a,,b"},
		{"video", "update", vid, "--packaging", "scrambled"},
		{"video", "update", vid, "--title", "x", "--dev-address", "0x12"},
		{"video", "delete"},
		{"video", "policy", vid, "--any"},
		{"video", "policy", vid, "--etag", "e"},
		{"video", "policy", vid, "--public", "--policy", "erc721:1:" + specAddr},
		{"video", "policy", vid, "--policy", "erc721:1:" + specAddr, "--policy", "erc721:2:" + specAddr},
		{"video", "policy", vid, "--policy", "erc721:1:0x5FbDB2315678afecb367f032d93F642f64180aA3"},
		{"video", "policy", vid, "--policy", "erc20:1:" + specAddr},
		{"video", "policy", vid, "--policy-file", "/nonexistent/policy.json"},
		{"upload", "clip.mp4", "--policy", "erc1155:1:" + specAddr},
		{"upload", "clip.mp4", "--tags", ","},
		{"upload", "clip.mp4", "--any"},
		{"webhook"},
		{"webhook", "create"},
		{"webhook", "create", "--url", "https://example.com/h"},
		{"webhook", "create", "--url", "example.com", "--events", "video.ready"},
		{"webhook", "create", "--url", "https://example.com/h", "--events", "video.ready,"},
		{"webhook", "create", "extra", "--url", "https://example.com/h", "--events", "video.ready"},
		{"webhook", "ls", "--page-size", "101"},
		{"webhook", "rm"},
		{"webhook", "test", "whk_x", "--timeout", "0s"},
	} {
		// Every one fails before any call: the server does not exist.
		code, out, errOut := cli(t, append(args, "--server", "http://127.0.0.1:1")...)
		if strings.Contains(strings.Join(args, " "), "--server") {
			code, out, errOut = cli(t, args...)
		}
		if code != 2 || out != "" || errOut == "" {
			t.Errorf("streamgate %q: exit %d, want 2 (usage) with a message\nstdout %q\nstderr %q", args, code, out, errOut)
		}
	}
	// help is not a mistake.
	if code, out, _ := cli(t, "webhook", "help"); code != 0 || !strings.Contains(out, "create") {
		t.Errorf("webhook help: exit %d, %q", code, out)
	}
}
