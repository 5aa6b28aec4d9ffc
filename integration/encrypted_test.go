package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/common"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
	gatewayv1 "github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1/gatewayv1connect"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	streamingv1 "github.com/streamgate/streamgate/gen/go/streamgate/streaming/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/streaming/v1/streamingv1connect"
	"github.com/streamgate/streamgate/internal/devchain"
)

// TestEncryptedPlayback plays a video encrypted at packaging (issue #21,
// "Keys, not URLs") end to end on one `streamgate dev`, in headless
// Chromium: the creator uploads it with the CLI gated behind the demo pass
// with a 3 s free preview; its segments are public bytes that decode only
// with the licence endpoint's key; a holder plays it to the end in the web
// app (hls.js) and in shaka-player (DASH, a Period per key); a wallet
// without the pass watches the preview, which ends on the screen naming
// the pass, shaka plays its DASH preview to the cut, and the licence
// endpoint gives that wallet the preview key only; a Transfer of
// the holder's pass stops its key requests; and minting a pass from the
// refusal screen plays on past the preview in the same page.
func TestEncryptedPlayback(t *testing.T) {
	if _, err := os.Stat(filepath.Join("..", "web", "dist", "index.html")); err != nil {
		t.Fatalf("the web app is not built (run `make web`; `make test` does): %v", err)
	}
	p := startDev(t)
	ctx := t.Context()
	conf, err := gatewayv1connect.NewGatewayServiceClient(http.DefaultClient, p.gatewayURL).
		GetClientConfig(ctx, connect.NewRequest(&gatewayv1.GetClientConfigRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	chain := conf.Msg.GetChains()[0]
	if chain.GetRpcUrl() == "" || chain.GetDemoNftContractAddress() == "" {
		t.Fatalf("dev's client config names no chain RPC URL or demo pass: %v", chain)
	}
	pass := chain.GetDemoNftContractAddress()
	// 9 s: two 4 s segments and a short one; the preview is the first.
	clip := clipOf(t, 9)
	b := newBrowser(t, p.gatewayURL)

	// --- 1. the creator uploads it gated, with a preview: encrypted -------
	cl := newCLI(t, p.gatewayURL)
	sg := cl.run
	sg("login", "--dev")
	videoID := cl.upload(clip, "--title", "Encrypted clip", "--policy", fmt.Sprintf("erc721:%d:%s", chain.GetChainId(), pass), "--preview", "3")
	creator := signIn(t, p.gatewayURL, "--dev")
	v := waitReady(t, p, creator, videoID)
	if !v.GetEncrypted() {
		t.Fatalf("Video.encrypted is false for a video gated (with a preview) at upload; want true (automatic packaging encrypts it): %v", v)
	}

	// The holder: the dev chain's deployer, given the demo pass (it holds
	// none at start), since only a pass the deployer holds can be
	// transferred away by the minter (step 6). The non-holder: the app's
	// dev account #2, which holds nothing on this fresh dev chain.
	minter, err := devchain.DialMinter(ctx, chain.GetRpcUrl())
	if err != nil {
		t.Fatal(err)
	}
	defer minter.Close()
	minted, err := minter.MintPass(ctx, devchain.DeployerAddress)
	if err != nil {
		t.Fatalf("minting the demo pass to the holder: %v", err)
	}
	holderSession := login(t, p.gatewayURL, "--key", keyFile(t, devchain.DeployerKeyHex))
	holder := bearer(holderSession.AccessToken)
	nonHolder := signIn(t, p.gatewayURL, "--key", keyFile(t, strings.TrimPrefix(viewerKey, "0x")))

	_, hInfo := playback(t, p, holder, videoID, authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER)
	if !hInfo.GetEncrypted() || hInfo.GetLicenceUrl() == "" {
		t.Fatalf("GetPlaybackInfo for the holder: encrypted %v, licence_url %q; want encrypted with a licence URL", hInfo.GetEncrypted(), hInfo.GetLicenceUrl())
	}
	if !strings.Contains(hInfo.GetLicenceUrl(), "/play/"+videoID+"/licence") || !strings.Contains(hInfo.GetLicenceUrl(), "token=") {
		t.Errorf("licence_url %q, want /play/%s/licence with the token in its query", hInfo.GetLicenceUrl(), videoID)
	}

	// --- 2. segments are public bytes, decodable with the key only --------
	master := hInfo.GetHlsUrl()
	media := resolve(t, master, segmentLine.FindString(fetch(t, master)))
	pl := readKeyedPlaylist(t, media)
	if len(pl.kids) != 2 || pl.kids[0] == pl.kids[1] {
		t.Fatalf("media playlist %s has key ids %v, want two (the preview's, then the full key's):\n%s", media, pl.kids, pl.text)
	}
	previewKID, fullKID := pl.kids[0], pl.kids[1]
	if pl.previewEnd < 3 || pl.previewEnd > 6 {
		t.Errorf("the preview key's segments end at %.3f s, want the first boundary at or after the 3 s preview (4 s)", pl.previewEnd)
	}
	init := fetchMedia(t, media, pl.firstInit, true)     // 200, public, immutable, no token
	first := fetchMedia(t, media, pl.firstSegment, true) // idem
	status, keys := requestKeys(t, hInfo.GetLicenceUrl(), previewKID, fullKID)
	if status != http.StatusOK || keys[previewKID] == nil || keys[fullKID] == nil {
		t.Fatalf("licence for the holder: %d with keys %v, want 200 with both the preview and the full key", status, keyIDs(keys))
	}
	seg := []byte(init + first)
	if decodes(t, seg, nil) {
		t.Errorf("%s (with %s) decodes without a key, want it encrypted", pl.firstSegment, pl.firstInit)
	}
	if out, ok := decode(t, seg, keys[previewKID]); !ok {
		t.Errorf("%s (with %s) does not decode with the preview key the licence released, want it to: %s", pl.firstSegment, pl.firstInit, out)
	}

	// --- 3. the holder plays it to the end in the web app (hls.js) --------
	b.signInSession("holder", p.gatewayURL, holderSession)
	b.run("the holder opens the video", 30*time.Second,
		chromedp.Navigate(p.gatewayURL+"/watch/"+videoID),
		chromedp.WaitVisible(`[data-testid="player"][data-grant="full"]`))
	b.playing("holder-plays")
	b.waitJS("the holder plays to the end", fmt.Sprintf(`(v => v.ended || (v.duration > 8 && v.currentTime >= v.duration - 0.5))(document.querySelector(%q))`, hookPlayer), 60*time.Second)
	// More frames than the preview's 4 s hold (25 fps): the full key's
	// were decoded too, not only skipped over.
	if n := value[int](b, "count the frames decoded", fmt.Sprintf(`document.querySelector(%q).getVideoPlaybackQuality().totalVideoFrames`, hookPlayer)); n <= 100 {
		t.Errorf("the web app decoded %d video frames of the 9 s clip for the holder, want more than the preview's 100", n)
	}
	b.shot("holder-played-to-the-end")

	// --- 4. shaka-player plays the DASH presentation to the end ------------
	// From 0: the MPD has a Period per key, the preview key's (its init
	// segments) then the full key's, so shaka asks for both keys and
	// crosses the boundary.
	players := servePlayers(t, http.NewServeMux())
	b.run("shaka plays the DASH MPD", 30*time.Second, chromedp.Navigate(fmt.Sprintf("%s/player?player=dash&licence=%s&src=%s",
		players.URL, url.QueryEscape(hInfo.GetLicenceUrl()), url.QueryEscape(hInfo.GetDashUrl()))))
	// A failure here is reported and the steps after it still run: they
	// do not depend on DASH.
	if !b.poll(`(v => eme.state().fatal.length == 0 && (eme.state().ended || (v.duration > 8 && v.currentTime >= v.duration - 0.5)))(document.querySelector("video"))`,
		`eme.state().fatal.length > 0`, 90*time.Second) {
		st := b.emeState()
		t.Errorf("shaka-player did not play the DASH MPD from 0 to the end with the holder's licence URL: currentTime %.2f, %d frames, fatal errors %s",
			st.Time, st.Frames, st.Fatal)
		t.Logf("segments shaka fetched: %s", value[string](b, "read the fetches", `performance.getEntriesByType("resource").map(e => e.name.replace(/\?.*/, "")).filter(n => n.includes("/play/")).join(" ")`))
		t.Logf("the MPD:\n%s", fetch(t, hInfo.GetDashUrl()))
	} else if st := b.emeState(); st.Frames < 100 {
		t.Errorf("shaka decoded %d video frames of the 9 s clip, want more than the preview's 100", st.Frames)
	}
	b.shot("shaka-played-to-the-end")

	// --- 5. without the pass: the preview, then the screen naming it ------
	b.run("the holder signs out", 30*time.Second,
		chromedp.Navigate(p.gatewayURL+"/"),
		chromedp.WaitVisible(hookSignOut),
		chromedp.Click(hookSignOut),
		chromedp.WaitVisible(hookSignInDev))
	b.signIn("viewer", viewerWallet)
	b.run("the non-holder opens the video", 30*time.Second,
		chromedp.Navigate(p.gatewayURL+"/watch/"+videoID),
		chromedp.WaitVisible(hookPreviewTag),
		chromedp.WaitVisible(`[data-testid="player"][data-grant="preview"]`))
	b.playing("non-holder-watches-the-preview")
	b.run("the preview ends on the screen naming the pass", time.Minute, chromedp.WaitVisible(hookPreviewEnd), chromedp.WaitVisible(hookDenied))
	b.waitJS("the refusal names the pass", fmt.Sprintf(`document.querySelector(%q).textContent.toLowerCase().includes(%q)`, hookDenied, strings.ToLower(pass)), 10*time.Second)
	b.shot("preview-ended")

	_, nInfo := playback(t, p, nonHolder, videoID, authv1.PlaybackGrant_PLAYBACK_GRANT_PREVIEW)
	if status, keys := requestKeys(t, nInfo.GetLicenceUrl(), previewKID); status != http.StatusOK || keys[previewKID] == nil {
		t.Errorf("the preview key for a preview token: %d with keys %v, want 200 with key %s", status, keyIDs(keys), previewKID)
	}
	if status, keys := requestKeys(t, nInfo.GetLicenceUrl(), fullKID); status != http.StatusForbidden {
		t.Errorf("the full key for a preview token: %d with keys %v, want 403 (a pass is needed)", status, keyIDs(keys))
	}
	// shaka on the preview token's DASH: the preview key's Period alone,
	// cut at the boundary, played to its end.
	b.run("shaka plays the DASH preview", 30*time.Second, chromedp.Navigate(fmt.Sprintf("%s/player?player=dash&licence=%s&src=%s",
		players.URL, url.QueryEscape(nInfo.GetLicenceUrl()), url.QueryEscape(nInfo.GetDashUrl()))))
	if !b.poll(`(v => eme.state().fatal.length == 0 && eme.state().ended)(document.querySelector("video"))`, `eme.state().fatal.length > 0`, 60*time.Second) {
		st := b.emeState()
		t.Errorf("shaka did not play the DASH preview to its end: currentTime %.2f, %d frames, fatal errors %s", st.Time, st.Frames, st.Fatal)
	} else if st := b.emeState(); st.Time < pl.previewEnd-0.5 || st.Time > pl.previewEnd+0.5 || st.Frames == 0 {
		t.Errorf("the DASH preview ended at %.2f s with %d frames, want at the %.1f s boundary", st.Time, st.Frames, pl.previewEnd)
	}
	b.shot("shaka-preview-ended")
	b.run("back to the watch page", 30*time.Second, chromedp.Navigate(p.gatewayURL+"/watch/"+videoID), chromedp.WaitVisible(hookPreviewTag))
	b.run("the preview ends again on the screen naming the pass", time.Minute, chromedp.WaitVisible(hookPreviewEnd), chromedp.WaitVisible(hookDenied))

	// --- 6. a Transfer of the holder's pass stops its key requests ---------
	transferred := time.Now()
	if _, err := minter.GivePass(ctx, minted.TokenID, common.HexToAddress("0x000000000000000000000000000000000000dEaD")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the holder's key request refused after the Transfer of its pass", time.Minute, func() (bool, string) {
		status, keys := requestKeys(t, hInfo.GetLicenceUrl(), fullKID)
		return status == http.StatusForbidden || status == http.StatusUnauthorized, fmt.Sprintf("%d with keys %v, want 401 or 403", status, keyIDs(keys))
	})
	t.Logf("the holder's key requests refused %s after the Transfer", time.Since(transferred).Round(10*time.Millisecond))

	// --- 7. mint from the refusal screen: on past the preview, same page --
	value[bool](b, "mark the page", `window.samePage = true`)
	b.run("mint a demo pass", 30*time.Second, chromedp.Click(hookMintDemo))
	b.run("the full video plays", 45*time.Second, chromedp.WaitVisible(`[data-testid="player"][data-grant="full"]`))
	b.waitJS("playback resumes where the preview stopped", fmt.Sprintf(`document.querySelector(%q).currentTime >= 3.5`, hookPlayer), 45*time.Second)
	b.waitJS("and goes on past it, under the full key", fmt.Sprintf(`document.querySelector(%q).currentTime > 5`, hookPlayer), 45*time.Second)
	if !value[bool](b, "still the same page", `window.samePage === true`) {
		t.Fatal("the page was reloaded after the mint, want playback to go on in the same page")
	}
	b.shot("non-holder-plays-after-mint")
}

// waitReady waits up to 3 minutes for the video to be READY, as who.
func waitReady(t *testing.T, p *devPlatform, who bearer, videoID string) *metadatav1.Video {
	t.Helper()
	videos := metadatav1connect.NewMetadataServiceClient(http.DefaultClient, p.gatewayURL, connect.WithInterceptors(who))
	var v *metadatav1.Video
	waitFor(t, "the video READY", 3*time.Minute, func() (bool, string) {
		res, err := videos.GetVideo(t.Context(), connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: videoID}))
		if err != nil {
			t.Fatalf("GetVideo: %v", err)
		}
		v = res.Msg.GetVideo()
		if v.GetStatus() == metadatav1.VideoStatus_VIDEO_STATUS_FAILED {
			t.Fatalf("video FAILED (%s), want READY", v.GetStatusReason())
		}
		return v.GetStatus() == metadatav1.VideoStatus_VIDEO_STATUS_READY, v.GetStatus().String()
	})
	return v
}

// playback issues who a playback token for the video, checks its grant,
// and returns it with the playback info it gives.
func playback(t *testing.T, p *devPlatform, who bearer, videoID string, want authv1.PlaybackGrant) (string, *streamingv1.GetPlaybackInfoResponse) {
	t.Helper()
	tok, err := authv1connect.NewAuthServiceClient(http.DefaultClient, p.gatewayURL, connect.WithInterceptors(who)).
		IssuePlaybackToken(t.Context(), connect.NewRequest(&authv1.IssuePlaybackTokenRequest{VideoId: videoID}))
	if err != nil {
		t.Fatalf("IssuePlaybackToken: %v, want a %v token", err, want)
	}
	if got := tok.Msg.GetGrant(); got != want {
		t.Fatalf("IssuePlaybackToken: grant %v, want %v", got, want)
	}
	info, err := streamingv1connect.NewStreamingServiceClient(http.DefaultClient, p.gatewayURL).
		GetPlaybackInfo(t.Context(), connect.NewRequest(&streamingv1.GetPlaybackInfoRequest{VideoId: videoID, Token: tok.Msg.GetToken()}))
	if err != nil {
		t.Fatalf("GetPlaybackInfo with a %v token: %v", want, err)
	}
	return tok.Msg.GetToken(), info.Msg
}

// keyedPlaylist is what readKeyedPlaylist found in an HLS media playlist.
type keyedPlaylist struct {
	text string
	// kids are the EXT-X-KEY key ids (lower-case hex) in playlist order.
	kids []string
	// firstInit and firstSegment are the first EXT-X-MAP's URI and the
	// first media segment, as the playlist names them.
	firstInit, firstSegment string
	// previewEnd is where the first key's segments end, in seconds.
	previewEnd float64
}

func readKeyedPlaylist(t *testing.T, media string) keyedPlaylist {
	t.Helper()
	pl := keyedPlaylist{text: fetch(t, media)}
	for line := range strings.Lines(pl.text) {
		line = strings.TrimSpace(line)
		switch {
		case hlsKey.MatchString(line):
			if m := hlsKeyID.FindStringSubmatch(line); m != nil {
				pl.kids = append(pl.kids, strings.ToLower(m[1]))
			}
		case hlsMap.MatchString(line):
			if pl.firstInit == "" {
				pl.firstInit = hlsMap.FindStringSubmatch(line)[1]
			}
		case strings.HasPrefix(line, "#EXTINF:") && len(pl.kids) == 1:
			d, _, _ := strings.Cut(strings.TrimPrefix(line, "#EXTINF:"), ",")
			f, err := strconv.ParseFloat(d, 64)
			if err != nil {
				t.Fatalf("media playlist %s: %q: %v", media, line, err)
			}
			pl.previewEnd += f
		case line != "" && !strings.HasPrefix(line, "#") && pl.firstSegment == "":
			pl.firstSegment = line
		}
	}
	if pl.firstInit == "" || pl.firstSegment == "" {
		t.Fatalf("media playlist %s has no EXT-X-MAP or no segment:\n%s", media, pl.text)
	}
	return pl
}

// keyIDs lists the key ids of a licence answer, for failure messages.
func keyIDs(keys map[string][]byte) []string {
	var out []string
	for k := range keys {
		out = append(out, k)
	}
	return out
}

// keyFile writes a private key (hex, no 0x) for `streamgate login --key`.
func keyFile(t *testing.T, hexKey string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "wallet.key")
	if err := os.WriteFile(f, []byte(hexKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// signInSession signs the web app in with a session `streamgate login`
// made, as the app keeps one (localStorage "streamgate.session", see
// web/src/session.ts): the app's dev sign-in offers only its two dev
// accounts, and other wallets sign in through a browser wallet.
func (b *browser) signInSession(name, base string, s cliSession) {
	b.t.Helper()
	web, err := json.Marshal(map[string]any{
		"address":        s.Address,
		"chainId":        fmt.Sprint(s.ChainID),
		"accessToken":    s.AccessToken,
		"accessExpireMs": s.AccessExpiry.UnixMilli(),
		"accessIssuedMs": time.Now().UnixMilli(),
		"refreshToken":   s.RefreshToken,
	})
	if err != nil {
		b.t.Fatal(err)
	}
	b.run("open the app", 30*time.Second, chromedp.Navigate(base+"/"), chromedp.WaitReady("body"))
	value[bool](b, "keep "+name+"'s session", fmt.Sprintf(`(localStorage.setItem("streamgate.session", %q), true)`, web))
	b.run("sign in as "+name, 30*time.Second, chromedp.Navigate(base+"/"), chromedp.WaitVisible(hookAccount))
	b.waitJS("account shows "+s.Address, fmt.Sprintf(`document.querySelector(%q).textContent.toLowerCase().includes(%q)`, hookAccount, strings.ToLower(s.Address)), 10*time.Second)
	b.shot("signed-in-" + name)
}

// poll waits until the JavaScript expression done is true (true) or fail
// is (false), up to timeout (false).
func (b *browser) poll(done, fail string, timeout time.Duration) bool {
	b.t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if value[bool](b, "poll "+done, done) {
			return true
		}
		if value[bool](b, "poll "+fail, fail) {
			b.failed("poll")
			return false
		}
	}
	b.failed("poll")
	return false
}
