package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
	gatewayv1 "github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1/gatewayv1connect"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	streamingv1 "github.com/streamgate/streamgate/gen/go/streamgate/streaming/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/streaming/v1/streamingv1connect"
)

// The studio's embed card hooks (web/README.md).
const (
	hookEmbedSnippet chromedp.CSS = `[data-testid="embed-snippet"]`
	hookEmbedOrigins chromedp.CSS = `[data-testid="embed-origins"]`
	hookEmbedSave    chromedp.CSS = `[data-testid="embed-origins-save"]`
	hookEmbedSaved   chromedp.CSS = `[data-testid="embed-origins-saved"]`
)

// viewerKey is the private key of viewerWallet (the app's dev account #2).
const viewerKey = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"

// The pages a creator's site would serve, each taking the media or embed
// URL in ?src=. window.fatal holds a player's fatal error.
const (
	hlsPage = `<!doctype html><meta charset="utf-8"><title>hls.js on another site</title>
<video id="v" muted playsinline width="640" height="360"></video>
<script src="/hls.js"></script>
<script>
window.fatal = "";
const v = document.getElementById("v");
const hls = new Hls();
hls.on(Hls.Events.ERROR, (_e, d) => { if (d.fatal) window.fatal = d.details + " " + (d.response ? d.response.code : ""); });
hls.on(Hls.Events.MANIFEST_PARSED, () => v.play());
hls.loadSource(new URLSearchParams(location.search).get("src"));
hls.attachMedia(v);
</script>`
	shakaPage = `<!doctype html><meta charset="utf-8"><title>shaka-player on another site</title>
<video id="v" muted playsinline width="640" height="360"></video>
<script src="/shaka.js"></script>
<script>
window.fatal = "";
shaka.polyfill.installAll();
(async () => {
  const v = document.getElementById("v");
  const player = new shaka.Player();
  await player.attach(v);
  player.addEventListener("error", (e) => { window.fatal = "shaka " + e.detail.code; });
  try {
    await player.load(new URLSearchParams(location.search).get("src"));
    await v.play();
  } catch (e) {
    window.fatal = "shaka " + (e.code || e);
  }
})();
</script>`
	framePage = `<!doctype html><meta charset="utf-8"><title>an embedded player</title>
<iframe id="f" width="800" height="450" allow="autoplay; fullscreen" style="border:0"></iframe>
<script>document.getElementById("f").src = new URLSearchParams(location.search).get("src");</script>`
)

// startSite serves the test pages and the players' builds (from the
// repository's node_modules) on an origin of its own: a loopback port
// other than the gateway's.
func startSite(t *testing.T) string {
	t.Helper()
	files := map[string]string{
		"/hls.js":   filepath.Join("..", "node_modules", "hls.js", "dist", "hls.min.js"),
		"/shaka.js": filepath.Join("..", "node_modules", "shaka-player", "dist", "shaka-player.compiled.js"),
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("player build missing (the root package.json installs hls.js and shaka-player): %v", err)
		}
	}
	pages := map[string]string{"/hls.html": hlsPage, "/shaka.html": shakaPage, "/frame.html": framePage}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f, ok := files[r.URL.Path]; ok {
			w.Header().Set("Content-Type", "text/javascript")
			http.ServeFile(w, r, f)
			return
		}
		if p, ok := pages[r.URL.Path]; ok {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, p)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// inContext evaluates in the given execution context (a frame's).
func inContext(id runtime.ExecutionContextID) chromedp.EvaluateOption {
	return func(p *runtime.EvaluateParams) { p.ContextID = id }
}

// evalTrue polls a JavaScript boolean expression (in a frame's context when
// opts say so) until it is true.
func (b *browser) evalTrue(step, expr string, timeout time.Duration, opts ...chromedp.EvaluateOption) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr, opts...))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.failed(step)
			b.t.Fatalf("%s: %s still not true after %v (last error %v)", step, expr, timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// plays waits until the video element sel advances past a second of
// playback, and fails fast on a player's fatal error when the page
// reports one (window.fatal).
func (b *browser) plays(step, sel string, opts ...chromedp.EvaluateOption) {
	b.t.Helper()
	q := fmt.Sprintf(`document.querySelector(%q)`, sel)
	b.evalTrue(step+": playback starts", fmt.Sprintf(`(() => { if (window.fatal) throw new Error("player failed: " + window.fatal); const v = %s; return !!v && v.currentTime > 0.2 })()`, q), 60*time.Second, opts...)
	rctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	start, err := chromedp.Run(rctx, chromedp.Evaluate[float64](q+`.currentTime`, opts...))
	cancel()
	if err != nil {
		b.failed(step)
		b.t.Fatalf("%s: read currentTime: %v", step, err)
	}
	b.evalTrue(step+": currentTime advances", fmt.Sprintf(`%s.currentTime > %f`, q, start+1), 30*time.Second, opts...)
	b.shot(step)
}

// childFrame returns the first child frame of the tab whose URL starts with
// prefix, or nil.
func (b *browser) childFrame(prefix string) *cdp.Frame {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	tree, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) (page.GetFrameTreeResult, error) {
		return cdp.Call(ctx, t, page.GetFrameTree, cdp.Empty{})
	})
	if err != nil || tree.FrameTree == nil {
		return nil
	}
	var walk func(*page.FrameTree) *cdp.Frame
	walk = func(n *page.FrameTree) *cdp.Frame {
		for _, c := range n.ChildFrames {
			if strings.HasPrefix(c.Frame.URL, prefix) {
				return c.Frame
			}
			if f := walk(c); f != nil {
				return f
			}
		}
		return nil
	}
	return walk(tree.FrameTree)
}

// frameContext waits for the tab's child frame whose URL starts with prefix
// and returns an isolated world in it: it shares the frame's DOM, so
// queries, clicks and the video's currentTime work from there even though
// the frame is another origin than the page.
func (b *browser) frameContext(step, prefix string) runtime.ExecutionContextID {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if f := b.childFrame(prefix); f != nil {
			ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
			res, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) (page.CreateIsolatedWorldResult, error) {
				return cdp.Call(ctx, t, page.CreateIsolatedWorld, page.CreateIsolatedWorldParams{FrameID: f.ID, WorldName: "embed-test"})
			})
			cancel()
			if err == nil && res.ExecutionContextID != 0 {
				return res.ExecutionContextID
			}
		}
		if time.Now().After(deadline) {
			b.failed(step)
			b.t.Fatalf("%s: no frame at %s", step, prefix)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestEmbed plays a gated video from pages on other origins than the
// gateway's, as a creator's site would: with hls.js and with shaka-player
// directly, given a holder's tokenized URLs, and through the embed page in
// an iframe, signing in with the dev wallet inside the frame. Then the
// creator restricts the video to one site: a new token plays there and is
// refused (403, no CORS headers, a fatal player error) on the other, whose
// iframe is refused too (frame-ancestors).
func TestEmbed(t *testing.T) {
	if _, err := os.Stat(filepath.Join("..", "web", "dist", "embed.html")); err != nil {
		t.Fatalf("the web app is not built with its embed page (run `make web`): %v", err)
	}
	p := startDev(t)
	ctx := t.Context()
	siteA, siteB := startSite(t), startSite(t)

	conf, err := gatewayv1connect.NewGatewayServiceClient(http.DefaultClient, p.gatewayURL).
		GetClientConfig(ctx, connect.NewRequest(&gatewayv1.GetClientConfigRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	chain := conf.Msg.GetChains()[0]
	if chain.GetRpcUrl() == "" || chain.GetDemoNftContractAddress() == "" {
		t.Fatalf("dev's client config names no chain RPC URL or demo pass: %v", chain)
	}

	// The creator (the dev wallet) signs in, uploads a clip and gates it
	// behind the demo pass.
	sg := newCLI(t, p.gatewayURL)
	sg.run("login", "--dev")
	videoID := sg.upload(clipFile(t), "--title", "Embed clip")
	creator := signIn(t, p.gatewayURL, "--dev")
	videos := metadatav1connect.NewMetadataServiceClient(http.DefaultClient, p.gatewayURL, connect.WithInterceptors(creator))
	var v *metadatav1.Video
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) { // polling the public API, as a client would
		res, err := videos.GetVideo(ctx, connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: videoID}))
		if err != nil {
			t.Fatalf("GetVideo: %v", err)
		}
		v = res.Msg.GetVideo()
		if v.GetStatus() == metadatav1.VideoStatus_VIDEO_STATUS_READY {
			break
		}
		if v.GetStatus() == metadatav1.VideoStatus_VIDEO_STATUS_FAILED || time.Now().After(deadline) {
			t.Fatalf("video %v (%s), want READY", v.GetStatus(), v.GetStatusReason())
		}
	}
	update := func(paths []string, edit func(*metadatav1.Video)) {
		t.Helper()
		res, err := videos.GetVideo(ctx, connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: videoID}))
		if err != nil {
			t.Fatal(err)
		}
		nv := res.Msg.GetVideo()
		edit(nv)
		if _, err := videos.UpdateVideo(ctx, connect.NewRequest(&metadatav1.UpdateVideoRequest{Video: nv, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})); err != nil {
			t.Fatalf("UpdateVideo %v: %v", paths, err)
		}
	}
	update([]string{"access_policy"}, func(nv *metadatav1.Video) {
		nv.AccessPolicy = &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL, Rules: []*authv1.AccessRule{{
			ChainId: chain.GetChainId(), ContractAddress: chain.GetDemoNftContractAddress(), Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721,
		}}}
	})

	// The viewer gets the pass on the dev chain and signs in.
	if out, err := exec.CommandContext(ctx, streamgateBinary(t), "dev-mint", "--rpc", chain.GetRpcUrl(), "--to", viewerWallet).CombinedOutput(); err != nil {
		t.Fatalf("streamgate dev-mint: %v\n%s", err, out)
	}
	keyFile := filepath.Join(t.TempDir(), "viewer.key")
	if err := os.WriteFile(keyFile, []byte(viewerKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	viewer := signIn(t, p.gatewayURL, "--key", keyFile)
	auth := authv1connect.NewAuthServiceClient(http.DefaultClient, p.gatewayURL, connect.WithInterceptors(viewer))
	streaming := streamingv1connect.NewStreamingServiceClient(http.DefaultClient, p.gatewayURL)
	playback := func() *streamingv1.GetPlaybackInfoResponse {
		t.Helper()
		// Decisions are cached for a few seconds: a fresh mint may take
		// a retry to be seen.
		var tok *authv1.IssuePlaybackTokenResponse
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
			res, err := auth.IssuePlaybackToken(ctx, connect.NewRequest(&authv1.IssuePlaybackTokenRequest{VideoId: videoID}))
			if err == nil {
				tok = res.Msg
				break
			}
			if connect.CodeOf(err) != connect.CodePermissionDenied || time.Now().After(deadline) {
				t.Fatalf("IssuePlaybackToken for the holder: %v", err)
			}
		}
		if tok.GetGrant() != authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER {
			t.Fatalf("grant %v, want HOLDER", tok.GetGrant())
		}
		info, err := streaming.GetPlaybackInfo(ctx, connect.NewRequest(&streamingv1.GetPlaybackInfoRequest{VideoId: videoID, Token: tok.GetToken()}))
		if err != nil {
			t.Fatalf("GetPlaybackInfo: %v", err)
		}
		return info.Msg
	}
	info := playback()

	b := newBrowser(t, p.gatewayURL)

	t.Run("hls.js on another origin", func(t *testing.T) {
		b.t = t
		b.run("open the hls.js page", 30*time.Second, chromedp.Navigate(siteA+"/hls.html?src="+url.QueryEscape(info.GetHlsUrl())))
		b.plays("hlsjs-plays", "#v")
	})
	t.Run("shaka-player on the DASH manifest", func(t *testing.T) {
		b.t = t
		b.run("open the shaka page", 30*time.Second, chromedp.Navigate(siteA+"/shaka.html?src="+url.QueryEscape(info.GetDashUrl())))
		b.plays("shaka-plays", "#v")
	})
	embedURL := p.gatewayURL + "/embed/" + videoID
	t.Run("the embed page in an iframe, signed in inside it", func(t *testing.T) {
		b.t = t
		b.run("open the page with the iframe", 30*time.Second, chromedp.Navigate(siteA+"/frame.html?src="+url.QueryEscape(embedURL)))
		frame := inContext(b.frameContext("find the embed frame", embedURL))
		b.evalTrue("the sign-in is offered in the frame", fmt.Sprintf(`!!document.querySelector(%q)`, string(hookSignInDev)), 30*time.Second, frame)
		b.evalTrue("choose the viewer wallet", fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = "viewer"; e.dispatchEvent(new Event("change", {bubbles: true})); return e.value === "viewer" })()`, string(hookDevWallet)), 5*time.Second, frame)
		b.evalTrue("sign in", fmt.Sprintf(`(() => { document.querySelector(%q).click(); return true })()`, string(hookSignInDev)), 5*time.Second, frame)
		b.evalTrue("no navigation chrome in the frame", `!document.querySelector("header, nav, footer")`, 5*time.Second, frame)
		b.plays("embed-plays", string(hookPlayer), frame)
	})

	// The creator allows site B only, in the studio. Tokens issued from now
	// on carry the list; the embed page's frame-ancestors follow within
	// seconds.
	originB := strings.TrimSuffix(siteB, "/")
	t.Run("the creator copies the snippet and limits the sites in the studio", func(t *testing.T) {
		b.t = t
		// The viewer's sign-in inside the frame may be the app's too
		// (loopback ports are one site, so storage is not partitioned
		// here): start the app signed out.
		b.run("sign out of the app", 30*time.Second, chromedp.Navigate(p.gatewayURL+"/"), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(localStorage.clear(), true)`)(ctx, tg)
			return err
		}))
		b.signIn("creator", devWallet)
		b.run("open the studio's embed card", 30*time.Second,
			chromedp.Navigate(p.gatewayURL+"/studio/"+videoID),
			chromedp.WaitVisible(hookEmbedOrigins))
		snippet := value[string](b, "read the snippet", fmt.Sprintf(`document.querySelector(%q).value`, hookEmbedSnippet))
		if !strings.Contains(snippet, `<iframe src="`+embedURL+`"`) {
			t.Errorf("embed snippet %q does not frame %s", snippet, embedURL)
		}
		b.run("save site B as the one allowed origin", 30*time.Second,
			chromedp.SendKeys(hookEmbedOrigins, strings.ToUpper(originB)+"/"),
			chromedp.Click(hookEmbedSave),
			chromedp.WaitVisible(hookEmbedSaved))
		b.shot("origins-saved")
		res, err := videos.GetVideo(ctx, connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: videoID}))
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Msg.GetVideo().GetAllowedOrigins(); len(got) != 1 || got[0] != originB {
			t.Fatalf("allowed origins after the studio saved %q: %q, want [%s] (normalised)", strings.ToUpper(originB)+"/", got, originB)
		}
	})
	// Set through the API if the studio step failed, so the checks below
	// still run.
	if got := func() []string {
		res, err := videos.GetVideo(ctx, connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: videoID}))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg.GetVideo().GetAllowedOrigins()
	}(); len(got) != 1 {
		update([]string{"allowed_origins"}, func(nv *metadatav1.Video) { nv.AllowedOrigins = []string{originB} })
	}
	info = playback()
	t.Run("the edge refuses another origin and serves the allowed one", func(t *testing.T) {
		get := func(origin string) (*http.Response, string) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, info.GetHlsUrl(), nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", origin)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			return res, string(body)
		}
		if res, body := get(siteA); res.StatusCode != http.StatusForbidden || res.Header.Get("Access-Control-Allow-Origin") != "" || !strings.Contains(body, "may not play") {
			t.Errorf("manifest from %s: %d, Allow-Origin %q, body %q; want 403 with a reason and no CORS", siteA, res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"), body)
		}
		if res, _ := get(originB); res.StatusCode != http.StatusOK || res.Header.Get("Access-Control-Allow-Origin") != originB {
			t.Errorf("manifest from %s: %d, Allow-Origin %q; want 200 for it", originB, res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
		}
	})
	t.Run("hls.js on a disallowed origin fails, on the allowed one plays", func(t *testing.T) {
		b.t = t
		b.run("open the hls.js page on site A", 30*time.Second, chromedp.Navigate(siteA+"/hls.html?src="+url.QueryEscape(info.GetHlsUrl())))
		b.evalTrue("hls.js reports a fatal load error", `window.fatal !== "" && document.getElementById("v").currentTime === 0`, 30*time.Second)
		b.shot("hlsjs-refused")
		b.run("open the hls.js page on site B", 30*time.Second, chromedp.Navigate(siteB+"/hls.html?src="+url.QueryEscape(info.GetHlsUrl())))
		b.plays("hlsjs-allowed-origin-plays", "#v")
	})
	t.Run("the embed page may be framed by the allowed origin only", func(t *testing.T) {
		b.t = t
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(500 * time.Millisecond) {
			res, err := http.Get(embedURL)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			csp := res.Header.Get("Content-Security-Policy")
			if strings.Contains(csp, "frame-ancestors") && strings.Contains(csp, originB) && !strings.Contains(csp, "*") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("embed page CSP %q 20s after the change; want frame-ancestors naming %s only", csp, originB)
			}
		}
		b.run("open the iframe page on site A", 30*time.Second, chromedp.Navigate(siteA+"/frame.html?src="+url.QueryEscape(embedURL)))
		deadline := time.Now().Add(20 * time.Second)
		for b.childFrame("chrome-error:") == nil {
			if time.Now().After(deadline) {
				b.failed("frame-refused")
				t.Fatal("the embed frame on a disallowed origin was not refused")
			}
			time.Sleep(250 * time.Millisecond)
		}
		b.shot("embed-refused")
		b.run("open the iframe page on site B", 30*time.Second, chromedp.Navigate(siteB+"/frame.html?src="+url.QueryEscape(embedURL)))
		frame := inContext(b.frameContext("find the embed frame on site B", embedURL))
		// The viewer signed in inside a frame on site A; storage may be
		// partitioned per top-level site, so sign in again when asked.
		b.evalTrue("the embed page loads", fmt.Sprintf(`!!document.querySelector(%q) || !!document.querySelector(%q)`, string(hookSignInDev), string(hookPlayer)), 30*time.Second, frame)
		b.evalTrue("sign in if asked", fmt.Sprintf(`(() => { const s = document.querySelector(%q); if (!s) return true; const e = document.querySelector(%q); e.value = "viewer"; e.dispatchEvent(new Event("change", {bubbles: true})); s.click(); return true })()`, string(hookSignInDev), string(hookDevWallet)), 5*time.Second, frame)
		b.plays("embed-allowed-origin-plays", string(hookPlayer), frame)
	})

	// A public video needs no token, so streaming checks its current list,
	// and the edge takes its CORS headers back from the refusal.
	update([]string{"access_policy"}, func(nv *metadatav1.Video) { nv.AccessPolicy = nil })
	t.Run("a public video with allowed origins", func(t *testing.T) {
		manifest := p.gatewayURL + "/play/" + videoID + "/" + v.GetHlsManifestPath()
		get := func(origin string) (*http.Response, string) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, manifest, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", origin)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			return res, string(body)
		}
		// Streaming remembers the video for a few seconds: wait for it to
		// be public.
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(250 * time.Millisecond) {
			res, _ := get(originB)
			if res.StatusCode == http.StatusOK {
				if res.Header.Get("Access-Control-Allow-Origin") != originB {
					t.Errorf("public manifest from %s: Allow-Origin %q", originB, res.Header.Get("Access-Control-Allow-Origin"))
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("public manifest from %s: %d 20s after the policy became public", originB, res.StatusCode)
			}
		}
		if res, body := get(siteA); res.StatusCode != http.StatusForbidden || res.Header.Get("Access-Control-Allow-Origin") != "" ||
			res.Header.Get("Streamgate-Origin-Refused") != "" || !strings.Contains(body, "may not play") {
			t.Errorf("public manifest from %s: %d, Allow-Origin %q, marker %q, body %q; want 403 with a reason and no CORS", siteA, res.StatusCode,
				res.Header.Get("Access-Control-Allow-Origin"), res.Header.Get("Streamgate-Origin-Refused"), body)
		}
	})
}
