package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/ethereum/go-ethereum/crypto"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/internal/devchain"
	"github.com/streamgate/streamgate/internal/testing/poll"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader in two
// goroutines (runDev prints from its own).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// devRun is `streamgate dev` running in this process.
type devRun struct {
	url      string
	chainRPC string
	stdout   *syncBuffer
	stderr   *syncBuffer
	stop     func()
}

// startDevInProcess runs runDev on dataDir with a free gateway port and
// waits for its ready line. stop interrupts it as Ctrl-C would and checks
// that it exits cleanly.
func startDevInProcess(t *testing.T, dataDir string, extra ...string) *devRun {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	d := &devRun{url: "http://" + addr, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	args := append([]string{"--data-dir", dataDir, "--http-addr", addr, "--chain-port", "0", "--log-level", "WARN"}, extra...)
	go func() { done <- runDev(ctx, args, d.stdout, d.stderr) }()
	var once sync.Once
	d.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("streamgate dev: %v\nstderr:\n%s", err, d.stderr.String())
				}
			case <-time.After(60 * time.Second):
				t.Errorf("streamgate dev did not stop within 60s\nstderr:\n%s", d.stderr.String())
			}
		})
	}
	t.Cleanup(d.stop)
	poll.Until(t, 2*time.Minute, "the ready line", func() bool {
		select {
		case err := <-done:
			t.Fatalf("streamgate dev ended before ready: %v\nstderr:\n%s", err, d.stderr.String())
		default:
		}
		return strings.Contains(d.stdout.String(), "streamgate dev ready")
	})
	m := regexp.MustCompile(`(?m)^chain:\s+(\S+)`).FindStringSubmatch(d.stdout.String())
	if m == nil {
		t.Fatalf("no chain line in %q", d.stdout.String())
	}
	d.chainRPC = m[1]
	return d
}

var demoLine = regexp.MustCompile(`(?m)^demo:\s+(http://\S+)/watch/(vid_[0-9A-Z]+) \(gated by (0x[0-9a-fA-F]{40}); ` + "`streamgate dev-mint --to <address>` grants access\\)$")

// demoVideo waits for the seed's demo line and returns the video id.
func (d *devRun) demoVideo(t *testing.T) string {
	t.Helper()
	var m []string
	poll.Until(t, 2*time.Minute, "the demo line", func() bool {
		m = demoLine.FindStringSubmatch(d.stdout.String())
		return m != nil
	})
	if m[1] != d.url || m[3] != devchain.DemoPassAddress().Hex() {
		t.Errorf("demo line %q: want the gateway %s and the demo pass %s", m[0], d.url, devchain.DemoPassAddress().Hex())
	}
	if strings.Contains(d.stderr.String(), "seeding the demo video failed") {
		t.Errorf("seed logged a failure:\n%s", d.stderr.String())
	}
	return m[2]
}

// cli runs one command line through run, as the binary would.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(t.Context(), args, &o, &e)
	return code, o.String(), e.String()
}

// mustCLI runs a command line that must succeed.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := cli(t, args...)
	if code != 0 {
		t.Fatalf("streamgate %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// listed is the --json output of ls and search.
type listed struct {
	Videos []struct {
		ID           string `json:"id"`
		Title        string `json:"title"`
		Status       string `json:"status"`
		Creator      string `json:"creator_address"`
		AccessPolicy *struct {
			Mode  string `json:"mode"`
			Rules []struct {
				ChainID  string `json:"chain_id"`
				Contract string `json:"contract_address"`
				Standard string `json:"standard"`
			} `json:"rules"`
		} `json:"access_policy"`
	} `json:"videos"`
	NextPageToken *string `json:"next_page_token"`
}

func parseListed(t *testing.T, out string) listed {
	t.Helper()
	var l listed
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, out)
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if l.Videos == nil || l.NextPageToken == nil {
		t.Fatalf("videos and next_page_token must always be present: %s", out)
	}
	return l
}

func (l listed) titled(title string) (ids []string, status []string) {
	for _, v := range l.Videos {
		if v.Title == title {
			ids = append(ids, v.ID)
			status = append(status, v.Status)
		}
	}
	return ids, status
}

// jsonError is the --json failure document.
type jsonError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// TestClientCommands runs `streamgate dev` in this process, with its seed,
// and drives it with the client commands: login, upload --watch, ls,
// search and play (a public video that ffprobe and ffplay open, the gated
// demo refused without the NFT and granted after dev-mint), then restarts
// dev on the same data dir and checks the seed did not upload a second copy.
func TestClientCommands(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dataDir := t.TempDir()
	dev := startDevInProcess(t, dataDir)
	srv := dev.url
	demoID := dev.demoVideo(t)
	demoWallet := crypto.PubkeyToAddress(mustKey(t, devchain.DemoWalletKeyHex).PublicKey).Hex()

	// Signed in with the dev wallet, which also owns the seeded demo.
	var who map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, "login", "--dev", "--server", srv, "--json")), &who); err != nil || who["address"] != demoWallet || who["server"] != srv {
		t.Fatalf("login --json = %v (%v), want the demo wallet through %s", who, err, srv)
	}

	clip := makeTestClip(t) // holiday.mp4
	out := mustCLI(t, "upload", clip, "--title", "Holiday in Lisbon", "--watch", "--json", "--server", srv)
	var up map[string]string
	if err := json.Unmarshal([]byte(lastLine(out)), &up); err != nil || up["state"] != "SUCCEEDED" || up["video_id"] == "" {
		t.Fatalf("upload --watch --json: %q (%v)", out, err)
	}
	publicID := up["video_id"]

	t.Run("ls lists my videos, the demo gated", func(t *testing.T) {
		var l listed
		// The transcoder's success reaches metadata as an event: wait for it.
		poll.Until(t, time.Minute, "both videos READY", func() bool {
			l = parseListed(t, mustCLI(t, "ls", "--json", "--server", srv))
			_, pub := l.titled("Holiday in Lisbon")
			_, demo := l.titled(demoTitle)
			return len(pub) == 1 && pub[0] == "VIDEO_STATUS_READY" && len(demo) == 1 && demo[0] == "VIDEO_STATUS_READY"
		})
		for _, v := range l.Videos {
			if v.Creator != demoWallet {
				t.Errorf("ls listed %s by %s, want only mine (%s)", v.ID, v.Creator, demoWallet)
			}
			switch v.ID {
			case demoID:
				if p := v.AccessPolicy; p == nil || p.Mode != "ACCESS_MODE_ALL" || len(p.Rules) != 1 || p.Rules[0].Contract != devchain.DemoPassAddress().Hex() ||
					p.Rules[0].Standard != "TOKEN_STANDARD_ERC721" || p.Rules[0].ChainID != "1337" {
					t.Errorf("demo video policy = %+v, want the demo pass on chain 1337", p)
				}
			case publicID:
				if v.AccessPolicy != nil {
					t.Errorf("public video has a policy: %+v", v.AccessPolicy)
				}
			}
		}
		table := mustCLI(t, "ls", "--server", srv)
		for _, want := range []string{"ID", "TITLE", "STATE", "DURATION", "GATED", "CREATED", publicID, "Holiday in Lisbon", demoID, demoTitle, "ready", "0:08", "0:02", "yes", "no"} {
			if !strings.Contains(table, want) {
				t.Errorf("ls table lacks %q:\n%s", want, table)
			}
		}
		// Paging: one per page, the token leads to the other.
		p1 := parseListed(t, mustCLI(t, "ls", "--json", "--page-size", "1", "--server", srv))
		if len(p1.Videos) != 1 || *p1.NextPageToken == "" {
			t.Fatalf("page 1 = %+v", p1)
		}
		p2 := parseListed(t, mustCLI(t, "ls", "--json", "--page-size", "1", "--page-token", *p1.NextPageToken, "--server", srv))
		if len(p2.Videos) != 1 || p2.Videos[0].ID == p1.Videos[0].ID {
			t.Fatalf("page 2 = %+v after %+v", p2, p1)
		}
		gated := parseListed(t, mustCLI(t, "ls", "--json", "--gated", "gated", "--server", srv))
		if len(gated.Videos) != 1 || gated.Videos[0].ID != demoID {
			t.Errorf("ls --gated gated = %+v, want only the demo", gated.Videos)
		}
		all := parseListed(t, mustCLI(t, "ls", "--all", "--json", "--server", srv))
		if ids, _ := all.titled("Holiday in Lisbon"); len(ids) != 1 {
			t.Errorf("ls --all lacks the public video: %+v", all.Videos)
		}
	})

	t.Run("search", func(t *testing.T) {
		l := parseListed(t, mustCLI(t, "search", "lisb", "--json", "--server", srv))
		if len(l.Videos) != 1 || l.Videos[0].ID != publicID {
			t.Errorf("search lisb = %+v, want %s", l.Videos, publicID)
		}
		l = parseListed(t, mustCLI(t, "search", "--server", srv, "--json", "streamgate", "demo"))
		if len(l.Videos) != 1 || l.Videos[0].ID != demoID {
			t.Errorf("search streamgate demo = %+v, want %s", l.Videos, demoID)
		}
		if out := mustCLI(t, "search", "nothing-matches-this", "--server", srv); !strings.Contains(out, "no videos") {
			t.Errorf("empty search table = %q", out)
		}
		code, out, _ := cli(t, "search", strings.Repeat("x", 300), "--json", "--server", srv)
		var e jsonError
		if code != 1 || json.Unmarshal([]byte(out), &e) != nil || e.Error.Code != "invalid_argument" {
			t.Errorf("over-long query: exit %d, stdout %q; want 1 and an invalid_argument JSON error", code, out)
		}
	})

	t.Run("play a public video", func(t *testing.T) {
		u := strings.TrimSpace(mustCLI(t, "play", publicID, "--server", srv))
		if !strings.HasPrefix(u, srv+"/play/"+publicID+"/") || !strings.Contains(u, ".m3u8") {
			t.Fatalf("play printed %q, want an HLS URL under %s/play/", u, srv)
		}
		ffprobe(t, u)
		var info struct {
			HLS  string `json:"hls_url"`
			DASH string `json:"dash_url"`
			Live *bool  `json:"live"`
		}
		if err := json.Unmarshal([]byte(mustCLI(t, "play", publicID, "--json", "--server", srv)), &info); err != nil || info.DASH == "" || info.Live == nil {
			t.Fatalf("play --json: %+v (%v)", info, err)
		}
		if d := strings.TrimSpace(mustCLI(t, "play", publicID, "--dash", "--server", srv)); !strings.Contains(d, ".mpd") {
			t.Errorf("play --dash printed %q", d)
		}
		// ffplay plays it to the end, headless.
		t.Setenv("SDL_VIDEODRIVER", "dummy")
		t.Setenv("SDL_AUDIODRIVER", "dummy")
		if code, _, errOut := cli(t, "play", publicID, "--server", srv); code != 0 || !strings.Contains(errOut, "packaged in clear") {
			t.Errorf("play of a public video said %q, want that it is packaged in clear", errOut)
		}
		if out := mustCLI(t, "play", publicID, "--ffplay", "--server", srv); !strings.Contains(out, "/play/"+publicID+"/") {
			t.Errorf("play --ffplay printed %q", out)
		}
	})

	t.Run("play a gated video", func(t *testing.T) {
		// A wallet without the pass.
		key, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		keyFile := filepath.Join(t.TempDir(), "viewer.key")
		if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(crypto.FromECDSA(key))), 0o600); err != nil {
			t.Fatal(err)
		}
		viewer := crypto.PubkeyToAddress(key.PublicKey).Hex()
		mustCLI(t, "login", "--key", keyFile, "--server", srv)

		code, out, errOut := cli(t, "play", demoID, "--server", srv)
		if code != 1 || out != "" {
			t.Fatalf("play without the NFT: exit %d, stdout %q; want 1 and nothing", code, out)
		}
		for _, want := range []string{"permission_denied", "access denied", demoID, "ERC-721", devchain.DemoPassAddress().Hex(), "chain 1337", viewer, "streamgate dev-mint --to " + viewer} {
			if !strings.Contains(errOut, want) {
				t.Errorf("refusal lacks %q: %s", want, errOut)
			}
		}
		code, out, _ = cli(t, "play", demoID, "--json", "--server", srv)
		var e jsonError
		if code != 1 || json.Unmarshal([]byte(out), &e) != nil || e.Error.Code != "permission_denied" || !strings.Contains(e.Error.Message, devchain.DemoPassAddress().Hex()) {
			t.Errorf("play --json without the NFT: exit %d, stdout %q", code, out)
		}

		// The hint works: mint, then the same command plays.
		mustCLI(t, "dev-mint", "--to", viewer, "--rpc", dev.chainRPC)
		var u, said string
		poll.Until(t, time.Minute, "play after minting", func() bool {
			code, out, errOut := cli(t, "play", demoID, "--server", srv)
			u, said = strings.TrimSpace(out), errOut
			return code == 0
		})
		if !strings.Contains(u, "token=") {
			t.Errorf("gated URL %q carries no token", u)
		}
		// Gated at upload, the demo is packaged encrypted (automatic):
		// play says so, and where the full video's keys are.
		if !strings.Contains(said, "encrypted: ") || !strings.Contains(said, "full video's keys") || !strings.Contains(said, "/play/"+demoID+"/licence?token=") {
			t.Errorf("play of the encrypted demo said %q", said)
		}
		ffprobe(t, u)
		// ffplay would ask no licence server: refused, saying why.
		if code, _, errOut := cli(t, "play", demoID, "--ffplay", "--server", srv); code != 1 || !strings.Contains(errOut, "encrypted") {
			t.Errorf("play --ffplay of an encrypted video: exit %d, stderr %q", code, errOut)
		}

		// Signed out: told to sign in, with what the video needs.
		p, _ := sessionPath()
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		code, _, errOut = cli(t, "play", demoID, "--server", srv)
		if code != 1 || !strings.Contains(errOut, "is gated") || !strings.Contains(errOut, "streamgate login") || !strings.Contains(errOut, devchain.DemoPassAddress().Hex()) {
			t.Errorf("play signed out: exit %d, stderr %q", code, errOut)
		}
		// Signed out, ls shows everyone's ready videos and says so.
		code, out, errOut = cli(t, "ls", "--server", srv)
		if code != 0 || !strings.Contains(out, publicID) || !strings.Contains(errOut, "not signed in") {
			t.Errorf("ls signed out: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})

	t.Run("--server is honoured and --gateway still works", func(t *testing.T) {
		code, out, errOut := cli(t, "ls", "--json", "--server", "http://127.0.0.1:1")
		var e jsonError
		if code != 1 || json.Unmarshal([]byte(out), &e) != nil || e.Error.Code != "unavailable" || !strings.Contains(errOut, "streamgate ls:") {
			t.Errorf("ls against a closed port: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		l := parseListed(t, mustCLI(t, "ls", "--all", "--json", "--gateway", srv))
		if ids, _ := l.titled("Holiday in Lisbon"); len(ids) != 1 {
			t.Errorf("ls --gateway = %+v", l.Videos)
		}
	})

	// A restart on the same data dir finds the demo instead of uploading
	// it again.
	dev.stop()
	dev = startDevInProcess(t, dataDir)
	if again := dev.demoVideo(t); again != demoID {
		t.Errorf("after a restart the demo is %s, want %s", again, demoID)
	}
	l := parseListed(t, mustCLI(t, "ls", "--creator", demoWallet, "--status", "ready", "--json", "--server", dev.url))
	if ids, _ := l.titled(demoTitle); len(ids) != 1 {
		t.Errorf("demo videos after two starts: %v, want exactly one", ids)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "seed", "demo.mp4")); err != nil {
		t.Errorf("the demo clip is not kept in the data dir: %v", err)
	}
}

func ffprobe(t *testing.T, u string) {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", u).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", u, err, out)
	}
	if strings.TrimSpace(string(out)) == "" {
		t.Fatalf("ffprobe %s found no duration", u)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestClientUsage(t *testing.T) {
	for _, args := range [][]string{
		{"ls", "extra"},
		{"ls", "--all", "--creator", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"},
		{"ls", "--status", "nope"},
		{"ls", "--gated", "maybe"},
		{"ls", "--page-size", "0"},
		{"ls", "--creator", "0x1234"},
		{"ls", "--server", "ftp://x"},
		{"search"},
		{"search", "  "},
		{"search", "x", "--page-size", "51"},
		{"play"},
		{"play", "a", "b"},
		{"play", "vid_x", "--server", "not a url"},
		{"login", "--dev", "--server", "ftp://x"},
		{"watch", testJobID, "--server", ""},
	} {
		code, out, errOut := cli(t, args...)
		if code != 2 {
			t.Errorf("streamgate %q: exit %d, want 2 (usage)\nstdout %q\nstderr %q", args, code, out, errOut)
		}
	}
}

func TestResultJSON(t *testing.T) {
	tests := []struct {
		err      error
		wantCode string
	}{
		{connect.NewError(connect.CodePermissionDenied, errors.New("no pass")), "permission_denied"},
		{errors.Join(errors.New("list videos"), connect.NewError(connect.CodeUnavailable, errors.New("down"))), "unavailable"},
		{errNotLoggedIn, "unauthenticated"},
		{errors.New("disk full"), "unknown"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		c := clientFlags{json: true}
		if err := c.result(&out, tt.err); err != tt.err {
			t.Errorf("result returned %v, want the error itself", err)
		}
		var e jsonError
		if err := json.Unmarshal(out.Bytes(), &e); err != nil || e.Error.Code != tt.wantCode || e.Error.Message != tt.err.Error() {
			t.Errorf("result(%v) printed %q, want code %s", tt.err, out.String(), tt.wantCode)
		}
	}
	// Without --json, and for errors already reported, nothing is printed.
	var out bytes.Buffer
	_ = (&clientFlags{}).result(&out, errors.New("x"))
	_ = (&clientFlags{json: true}).result(&out, reported{errors.New("x")})
	_ = (&clientFlags{json: true}).result(&out, errUsage)
	if out.Len() != 0 {
		t.Errorf("printed %q", out.String())
	}
}

func TestDescribePolicy(t *testing.T) {
	pass := devchain.DemoPassAddress().Hex()
	items := devchain.DemoItemsAddress().Hex()
	id := "7"
	tests := []struct {
		policy   *authv1.AccessPolicy
		want     string
		wantMint string
	}{
		{&authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL, Rules: []*authv1.AccessRule{{ChainId: 1337, ContractAddress: pass, Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721}}},
			"an ERC-721 token of " + pass + " on chain 1337", "`streamgate dev-mint --to 0xV`"},
		{&authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ANY, Rules: []*authv1.AccessRule{
			{ChainId: 1, ContractAddress: pass, Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721, TokenId: &id},
			{ChainId: 1337, ContractAddress: items, Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC1155, TokenId: &id, MinBalance: "2"},
		}}, "one of: ERC-721 token #7 of " + pass + " on chain 1; or 2 of ERC-1155 token id 7 of " + items + " on chain 1337",
			"`streamgate dev-mint --to 0xV --standard erc1155 --token-id 7 --amount 2`"},
		{&authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL, Rules: []*authv1.AccessRule{
			{ChainId: 1, ContractAddress: pass, Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC20, MinBalance: "1000"},
			{ChainId: 1, ContractAddress: items, Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721, MinBalance: "3"},
		}}, "all of: 1000 (smallest units) of ERC-20 " + pass + " on chain 1; and 3 ERC-721 tokens of " + items + " on chain 1", ""},
	}
	for _, tt := range tests {
		if got := describePolicy(tt.policy); got != tt.want {
			t.Errorf("describePolicy = %q, want %q", got, tt.want)
		}
		if got := devMintHint(tt.policy, "0xV"); got != tt.wantMint {
			t.Errorf("devMintHint = %q, want %q", got, tt.wantMint)
		}
	}
}

func TestClockDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0:00", 8 * time.Second: "0:08", 61500 * time.Millisecond: "1:02", time.Hour + 2*time.Minute + 3*time.Second: "1:02:03",
	} {
		if got := clockDuration(d, true); got != want {
			t.Errorf("clockDuration(%s) = %q, want %q", d, got, want)
		}
	}
	if got := clockDuration(0, false); got != "-" {
		t.Errorf("unknown duration = %q", got)
	}
}

func TestDemoClipWithoutFFmpeg(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := demoClip(t.Context(), t.TempDir(), slog.New(slog.DiscardHandler))
	if !errors.Is(err, errNoFFmpeg) {
		t.Fatalf("demoClip without ffmpeg = %v, want errNoFFmpeg", err)
	}
}
