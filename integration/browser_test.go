package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The web app's stable test hooks (data-testid attributes), see web/README.md.
const (
	hookSignInDev   chromedp.CSS = `[data-testid="signin-dev"]`
	hookDevWallet   chromedp.CSS = `[data-testid="dev-wallet"]`
	hookAccount     chromedp.CSS = `[data-testid="account"]`
	hookSignOut     chromedp.CSS = `[data-testid="signout"]`
	hookUploadFile  chromedp.CSS = `[data-testid="upload-file"]`
	hookUploadTitle chromedp.CSS = `[data-testid="upload-title"]`
	hookUploadStart chromedp.CSS = `[data-testid="upload-start"]`
	hookUploadProg  chromedp.CSS = `[data-testid="upload-progress"]`
	hookTranscode   chromedp.CSS = `[data-testid="transcode-progress"]`
	hookVideoReady  chromedp.CSS = `[data-testid="video-ready"]`
	hookPlayer      chromedp.CSS = `[data-testid="player"]`
	hookDenied      chromedp.CSS = `[data-testid="access-denied"]`
	hookMintDemo    chromedp.CSS = `[data-testid="mint-demo"]`
	hookPolicyForm  chromedp.CSS = `[data-testid="policy-form"]`
	hookPolicyKind  chromedp.CSS = `[data-testid="policy-kind"]`
	hookPolicyAddr  chromedp.CSS = `[data-testid="policy-contract"]`
	hookPolicySave  chromedp.CSS = `[data-testid="policy-save"]`
	hookPolicySaved chromedp.CSS = `[data-testid="policy-saved"]`
	hookSearch      chromedp.CSS = `[data-testid="library-search"]`
	hookPreview     chromedp.CSS = `[data-testid="policy-preview"]`
	hookPreviewTag  chromedp.CSS = `[data-testid="preview-badge"]`
	hookPreviewEnd  chromedp.CSS = `[data-testid="preview-ended"]`
)

// viewerWallet is the second dev wallet the web app offers: it holds no
// demo pass until the test mints one.
const viewerWallet = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"

// browser drives one headless Chromium tab and keeps screenshots.
type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
	n     int
}

// newBrowser starts Debian's Chromium (scripts/install-deps.sh installs
// it) headless, with the flags this closed network needs.
func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	exe, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (scripts/install-deps.sh installs Debian's chromium): %v", err)
	}
	// Kept after the test, for looking at what the browser saw.
	shots, err := os.MkdirTemp("", "streamgate-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", shots)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("mute-audio", true),
		// The player starts on its own, as after a click on a card.
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	// What the page logs helps more than a timeout when a step fails.
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			desc := d.Text
			if d.Exception != nil {
				desc += " " + d.Exception.Description
			}
			t.Logf("page exception: %s (%s:%d)", desc, d.URL, d.LineNumber)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				var parts []string
				for _, a := range ev.Args {
					if a.Description != "" {
						parts = append(parts, a.Description)
					} else {
						parts = append(parts, strings.Trim(string(a.Value), `"`))
					}
				}
				t.Logf("console.%s: %s", ev.Type, strings.Join(parts, " "))
			}
		}
	}))
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first Run starts the browser; it gets no deadline, which would
	// stop the browser with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, base: base, shots: shots}
}

// run runs actions with a deadline; on failure it saves a screenshot and
// fails the test, naming the step.
func (b *browser) run(step string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.failed(step)
		b.t.Fatalf("%s: %v", step, err)
	}
}

// pageState is what the page shows and what its video elements are doing,
// for a failed step's log: the screenshots stay on the machine that ran it.
const pageState = `JSON.stringify({
  url: location.href,
  text: (document.querySelector("main") || document.body).innerText.slice(0, 600),
  videos: [...document.querySelectorAll("video")].map((v) => ({
    testid: v.dataset.testid, grant: v.dataset.grant,
    currentTime: v.currentTime, duration: v.duration, paused: v.paused, ended: v.ended,
    readyState: v.readyState, networkState: v.networkState, error: v.error && v.error.code + " " + v.error.message,
    buffered: [...Array(v.buffered.length).keys()].map((i) => [v.buffered.start(i), v.buffered.end(i)]),
  })),
})`

// failed saves a screenshot of a failed step and logs the page's state.
func (b *browser) failed(step string) {
	b.shot("failed-" + step)
	b.t.Logf("page state: %s", b.state())
}

// state is pageState's answer, or why there is none.
func (b *browser) state() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](pageState))
	if err != nil {
		return err.Error()
	}
	return s
}

// shot saves a full-page screenshot as NN-name.png.
func (b *browser) shot(name string) {
	b.n++
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 gives a PNG
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	_ = os.WriteFile(filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.n, name)), png, 0o644)
}

// waitJS polls a JavaScript boolean expression until it is true.
func (b *browser) waitJS(step, expr string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
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

// choose sets a <select> the way a person does: the change event fires.
func choose(sel chromedp.CSS, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		got, err := chromedp.Evaluate[string](fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q; e.dispatchEvent(new Event("change", {bubbles: true})); return e.value })()`, sel, value))(ctx, t)
		if err == nil && got != value {
			err = fmt.Errorf("%s has no option %q", sel, value)
		}
		return err
	})
}

// value reads a JavaScript expression in a step.
func value[T any](b *browser, step, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.failed(step)
		b.t.Fatalf("%s: %v", step, err)
	}
	return v
}

// signIn signs in with one of the app's dev wallets.
func (b *browser) signIn(wallet, address string) {
	b.t.Helper()
	b.run("open the app", 30*time.Second, chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(hookSignInDev))
	b.run("sign in as "+wallet, 30*time.Second,
		choose(hookDevWallet, wallet),
		chromedp.Click(hookSignInDev),
		chromedp.WaitVisible(hookAccount))
	b.waitJS("account shows "+address, fmt.Sprintf(`document.querySelector(%q).textContent.toLowerCase().includes(%q)`, hookAccount, strings.ToLower(address)), 10*time.Second)
	b.shot("signed-in-" + wallet)
}

// playing waits until the player's currentTime advances by a second.
func (b *browser) playing(step string) {
	b.t.Helper()
	b.run(step+": player shown", 30*time.Second, chromedp.WaitVisible(hookPlayer))
	b.waitJS(step+": playback starts", fmt.Sprintf(`document.querySelector(%q).currentTime > 0.2`, hookPlayer), 45*time.Second)
	start := value[float64](b, step+": read currentTime", fmt.Sprintf(`document.querySelector(%q).currentTime`, hookPlayer))
	b.waitJS(step+": currentTime advances", fmt.Sprintf(`document.querySelector(%q).currentTime > %f`, hookPlayer, start+1), 30*time.Second)
	b.shot(step)
}

// TestBrowser drives the web app the binary serves, in headless Chromium:
// a creator signs in with the dev wallet, uploads a clip with a live
// progress bar, watches transcoding reach 100 %, plays the video and gates
// it behind the demo pass with a free preview; a viewer without the pass
// watches the preview, which ends at its cut on a screen naming the pass,
// mints one from there and watches on from where the preview stopped, in
// the same page.
func TestBrowser(t *testing.T) {
	if _, err := os.Stat(filepath.Join("..", "web", "dist", "index.html")); err != nil {
		t.Fatalf("the web app is not built (run `make web`; `make test` does): %v", err)
	}
	p := startDev(t)
	// 9 s: two 4 s segments and a short one; the preview is the first.
	clip := clipOf(t, 9)
	b := newBrowser(t, p.gatewayURL)

	b.signIn("creator", devWallet)

	b.run("open the upload page", 30*time.Second,
		chromedp.Navigate(p.gatewayURL+"/upload"),
		chromedp.WaitReady(hookUploadFile),
		chromedp.SetUploadFiles(hookUploadFile, []string{clip}),
		chromedp.WaitVisible(hookUploadTitle),
		chromedp.SendKeys(hookUploadTitle, "Browser clip"),
		chromedp.Click(hookUploadStart))
	b.waitJS("upload reaches 100%", fmt.Sprintf(`document.querySelector(%q)?.dataset.percent === "100"`, hookUploadProg), time.Minute)
	b.shot("uploaded")
	b.waitJS("transcoding reaches 100%", fmt.Sprintf(`document.querySelector(%q)?.dataset.percent === "100"`, hookTranscode), 3*time.Minute)
	b.run("the video is ready", time.Minute, chromedp.WaitVisible(hookVideoReady))
	videoID := value[string](b, "read the video id", fmt.Sprintf(`document.querySelector(%q).dataset.videoId || ""`, hookVideoReady))
	if videoID == "" {
		t.Fatalf("%s has no data-video-id", hookVideoReady)
	}
	b.shot("transcoded")

	b.run("the library finds it", 30*time.Second,
		chromedp.Navigate(p.gatewayURL+"/"),
		chromedp.WaitVisible(hookSearch),
		chromedp.SendKeys(hookSearch, "Browser"),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-testid="video-card"][data-video-id=%q]`, videoID))))
	b.shot("library")

	b.run("open the player", 30*time.Second, chromedp.Navigate(p.gatewayURL+"/watch/"+videoID))
	b.playing("creator-plays")

	// The creator gates the video behind the dev chain's demo pass.
	b.run("open the studio", 30*time.Second,
		chromedp.Navigate(p.gatewayURL+"/studio/"+videoID),
		chromedp.WaitVisible(hookPolicyForm),
		choose(hookPolicyKind, "nft"),
		chromedp.WaitVisible(hookPolicyAddr))
	contract := value[string](b, "read the prefilled contract", fmt.Sprintf(`document.querySelector(%q).value`, hookPolicyAddr))
	if !strings.HasPrefix(contract, "0x") || len(contract) != 42 {
		t.Fatalf("policy contract prefilled with %q, want the demo pass address", contract)
	}
	b.run("save the policy", 30*time.Second,
		chromedp.SetValue(hookPreview, "3"),
		chromedp.Click(hookPolicySave),
		chromedp.WaitVisible(hookPolicySaved))
	b.shot("gated")

	// A viewer without the pass watches the free preview: 3 s, so the
	// first 4 s segment, and the player ends there.
	b.run("sign out", 30*time.Second, chromedp.Click(hookSignOut), chromedp.WaitVisible(hookSignInDev))
	b.signIn("viewer", viewerWallet)
	b.run("the viewer opens the video", 30*time.Second,
		chromedp.Navigate(p.gatewayURL+"/watch/"+videoID),
		chromedp.WaitVisible(hookPreviewTag))
	b.playing("viewer-watches-the-preview")
	b.run("the preview ends on the pass it needs", time.Minute, chromedp.WaitVisible(hookPreviewEnd), chromedp.WaitVisible(hookDenied))
	b.waitJS("the refusal names the pass", fmt.Sprintf(`document.querySelector(%q).textContent.toLowerCase().includes(%q)`, hookDenied, strings.ToLower(contract)), 10*time.Second)
	b.shot("preview-ended")

	// Minting the pass to the viewer (the dev chain's demo minter) lets
	// them in, at the point where the preview stopped (4 s), without a
	// reload.
	value[bool](b, "mark the page", `window.samePage = true`)
	b.run("mint a demo pass", 30*time.Second, chromedp.Click(hookMintDemo))
	b.run("the full video plays", 30*time.Second, chromedp.WaitVisible(`[data-testid="player"][data-grant="full"]`))
	b.waitJS("playback resumes where the preview stopped", fmt.Sprintf(`document.querySelector(%q).currentTime >= 3.5`, hookPlayer), 45*time.Second)
	b.waitJS("and goes on past it", fmt.Sprintf(`document.querySelector(%q).currentTime > 5`, hookPlayer), 45*time.Second)
	if !value[bool](b, "still the same page", `window.samePage === true`) {
		t.Fatal("the page was reloaded")
	}
	b.shot("viewer-plays-after-mint")
}

// TestFailedStepLogsPageState runs the failure path of the browser steps,
// which a green run never takes: it saves the screenshot and reports the
// page's text and its players' state.
func TestFailedStepLogsPageState(t *testing.T) {
	b := newBrowser(t, "")
	b.run("open a page with a player", 30*time.Second,
		chromedp.Navigate(`data:text/html,<main>Free preview ended</main><video data-testid="player" data-grant="preview"></video>`),
		chromedp.WaitReady(hookPlayer))
	b.failed("probe")
	st := b.state()
	for _, want := range []string{`"text":"Free preview ended"`, `"testid":"player"`, `"grant":"preview"`, `"readyState":0`, `"buffered":[]`} {
		if !strings.Contains(st, want) {
			t.Errorf("page state %s lacks %s", st, want)
		}
	}
	if shots, _ := filepath.Glob(filepath.Join(b.shots, "*-failed-probe.png")); len(shots) != 1 {
		t.Errorf("screenshots of the failed step: %v, want one", shots)
	}
}
