package integration

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
)

// The sign-in panel's wallet hooks, see web/README.md.
const (
	hookWalletOption  chromedp.CSS = `[data-testid="wallet-option"]`
	hookWalletConnect chromedp.CSS = `[data-testid="signin-walletconnect"]`
	hookWCOff         chromedp.CSS = `[data-testid="walletconnect-off"]`
	hookWCPairing     chromedp.CSS = `[data-testid="walletconnect-pairing"]`
	hookWCCancel      chromedp.CSS = `[data-testid="walletconnect-cancel"]`
)

// testWallet is one browser wallet the test injects into the page: an
// EIP-1193 provider that announces itself by EIP-6963 and signs with a
// key held by the test process.
type testWallet struct {
	UUID string `json:"uuid"`
	Name string `json:"name"`
	RDNS string `json:"rdns"`
	Icon string `json:"icon"`
	// Address is the key's, EIP-55 checksummed.
	Address string `json:"address"`
	key     *ecdsa.PrivateKey
}

// Accounts #3 and #4 of the well-known dev-chain test mnemonic: neither is
// one of the app's dev wallets, so signing in as one can only have gone
// through the injected wallet.
var testWalletKeys = []string{
	"7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
	"47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
}

func testWallets(t *testing.T) []testWallet {
	t.Helper()
	icon := func(color string) string {
		return "data:image/svg+xml;utf8," + strings.ReplaceAll(fmt.Sprintf(`<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 8 8'><rect width='8' height='8' fill='%s'/></svg>`, color), "#", "%23")
	}
	wallets := []testWallet{
		{UUID: "0f9d6a8e-1111-4c1e-9a57-3b1f3c6e0001", Name: "Test Wallet One", RDNS: "test.streamgate.one", Icon: icon("#e8833a")},
		{UUID: "0f9d6a8e-2222-4c1e-9a57-3b1f3c6e0002", Name: "Test Wallet Two", RDNS: "test.streamgate.two", Icon: icon("#3a7be8")},
	}
	for i := range wallets {
		key, err := crypto.HexToECDSA(testWalletKeys[i])
		if err != nil {
			t.Fatal(err)
		}
		wallets[i].key = key
		wallets[i].Address = crypto.PubkeyToAddress(key.PublicKey).Hex()
	}
	return wallets
}

// injectedWalletsJS defines the wallets in every document before the
// app's scripts run. Each provider answers the calls a SIWE sign-in makes;
// personal_sign goes to the test process (walletSign), which holds the
// keys. Wallets announce on load and on every request, as EIP-6963 says.
const injectedWalletsJS = `(() => {
  const wallets = %s;
  const chainId = %q;
  wallets.forEach((w, i) => {
    const provider = {
      async request({ method, params }) {
        switch (method) {
          case "eth_requestAccounts":
          case "eth_accounts":
            return [w.address];
          case "eth_chainId":
            return chainId;
          case "wallet_switchEthereumChain":
            return null;
          case "personal_sign":
            return walletSign({ wallet: i, data: params[0], address: params[1] });
          default:
            throw Object.assign(new Error("test wallet: unsupported method " + method), { code: 4200 });
        }
      },
      on() {},
      removeListener() {},
    };
    const info = Object.freeze({ uuid: w.uuid, name: w.name, icon: w.icon, rdns: w.rdns });
    const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info, provider }) }));
    window.addEventListener("eip6963:requestProvider", announce);
    announce();
  });
})();`

// signRequest is what a test wallet's personal_sign sends to the test.
type signRequest struct {
	Wallet  int    `json:"wallet"`
	Data    string `json:"data"`
	Address string `json:"address"`
}

// injectWallets exposes the signer and adds the wallets' script to every
// new document of b's tab; it returns the indexes of the wallets that
// signed, in order.
func injectWallets(t *testing.T, b *browser, wallets []testWallet, chainID uint64) func() []int {
	t.Helper()
	var (
		mu     sync.Mutex
		signed []int
	)
	sign := func(_ context.Context, r signRequest) (string, error) {
		if r.Wallet < 0 || r.Wallet >= len(wallets) {
			return "", fmt.Errorf("no wallet %d", r.Wallet)
		}
		w := wallets[r.Wallet]
		// A wallet signs only for its own account.
		if !strings.EqualFold(r.Address, w.Address) {
			return "", fmt.Errorf("wallet %s holds %s, asked to sign for %s", w.Name, w.Address, r.Address)
		}
		msg, err := hexutil.Decode(r.Data)
		if err != nil {
			return "", fmt.Errorf("personal_sign data %q: %w", r.Data, err)
		}
		sig, err := crypto.Sign(accounts.TextHash(msg), w.key)
		if err != nil {
			return "", err
		}
		sig[crypto.RecoveryIDOffset] += 27 // EIP-191 signatures carry v as 27 or 28
		mu.Lock()
		signed = append(signed, r.Wallet)
		mu.Unlock()
		return hexutil.Encode(sig), nil
	}
	list, err := json.Marshal(wallets)
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(injectedWalletsJS, list, hexutil.EncodeUint64(chainID))
	b.run("inject two EIP-6963 wallets", 10*time.Second,
		chromedp.ExposeFunc("walletSign", sign),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script})
			return err
		}))
	return func() []int {
		mu.Lock()
		defer mu.Unlock()
		return append([]int(nil), signed...)
	}
}

// TestWallets: with two browser wallets installed, the sign-in page lists
// both (EIP-6963), the user picks the second and is signed in as its
// address, signed by that wallet alone. This server has no WalletConnect
// project id, so the phone-wallet choice is disabled and says why; the dev
// wallets are still offered.
func TestWallets(t *testing.T) {
	requireWebApp(t)
	p := startDev(t)
	wallets := testWallets(t)
	b := newBrowser(t, p.gatewayURL)
	signedBy := injectWallets(t, b, wallets, 1337)

	b.run("open sign-in", 30*time.Second,
		chromedp.Navigate(p.gatewayURL+"/signin"),
		chromedp.WaitVisible(hookSignInDev))
	b.waitJS("both wallets listed", fmt.Sprintf(`document.querySelectorAll(%q).length === 2`, hookWalletOption), 10*time.Second)
	b.shot("wallet-chooser")
	names := value[[]string](b, "read the chooser", fmt.Sprintf(`[...document.querySelectorAll(%q)].map((e) => e.textContent.trim())`, hookWalletOption))
	if len(names) != 2 || names[0] != wallets[0].Name || names[1] != wallets[1].Name {
		t.Errorf("chooser lists %q, want %q and %q", names, wallets[0].Name, wallets[1].Name)
	}
	icons := value[[]string](b, "read the icons", fmt.Sprintf(`[...document.querySelectorAll(%q)].map((e) => e.querySelector("img")?.getAttribute("src") ?? "")`, hookWalletOption))
	if len(icons) != 2 || icons[0] != wallets[0].Icon || icons[1] != wallets[1].Icon {
		t.Errorf("chooser icons %q, want each wallet's data URI", icons)
	}
	if value[bool](b, "no fallback button", `document.querySelector('[data-testid="signin-wallet"]') !== null`) {
		t.Error("the window.ethereum fallback is offered although wallets announced themselves")
	}

	// No WalletConnect project id on this server: said plainly.
	if !value[bool](b, "walletconnect disabled", fmt.Sprintf(`document.querySelector(%q).disabled`, hookWalletConnect)) {
		t.Error("the phone-wallet choice is enabled on a server without a WalletConnect project id")
	}
	off := value[string](b, "read the walletconnect explanation", fmt.Sprintf(`document.querySelector(%q)?.textContent ?? ""`, hookWCOff))
	if !strings.Contains(off, "no WalletConnect project id") || !strings.Contains(off, "--walletconnect-project-id") {
		t.Errorf("phone-wallet explanation %q does not say that no project id is configured and how to set one", off)
	}

	// An announcement is any script's event: its name is shown as text and
	// an icon that is not a data:image/ URI is not loaded.
	b.run("a hostile announcement", 10*time.Second, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(() => {
			const info = { uuid: "hostile", name: '<img src=x onerror="window.pwned=1">', icon: "https://tracker.invalid/icon.png", rdns: "test.hostile" };
			window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail: { info, provider: { request: async () => [] } } }));
			return true;
		})()`)(ctx, t)
		return err
	}))
	b.waitJS("the hostile wallet is listed as text", fmt.Sprintf(`document.querySelector('%s[data-uuid="hostile"]')?.textContent === '<img src=x onerror="window.pwned=1">'`, hookWalletOption), 10*time.Second)
	if value[bool](b, "no markup from the announcement", fmt.Sprintf(`window.pwned === 1 || document.querySelector('%s[data-uuid="hostile"] img') !== null`, hookWalletOption)) {
		t.Error("the hostile announcement's name or icon reached the page as markup or an image")
	}

	second := chromedp.CSS(fmt.Sprintf(`%s[data-uuid=%q]`, hookWalletOption, wallets[1].UUID))
	b.run("pick the second wallet", 30*time.Second, chromedp.Click(second), chromedp.WaitVisible(hookAccount))
	want := wallets[1].Address
	b.waitJS("account shows the second wallet", fmt.Sprintf(`document.querySelector(%q)?.dataset.address === %q`, hookAccount, want), 10*time.Second)
	b.shot("signed-in-second-wallet")
	if got := signedBy(); len(got) != 1 || got[0] != 1 {
		t.Errorf("wallets that signed: %v, want only the second (1)", got)
	}

	// The session the app keeps is the server's, for that address.
	var stored struct {
		Address     string `json:"address"`
		AccessToken string `json:"accessToken"`
	}
	raw := value[string](b, "read the stored session", `localStorage.getItem("streamgate.session") ?? ""`)
	if err := json.Unmarshal([]byte(raw), &stored); err != nil || stored.AccessToken == "" {
		t.Fatalf("stored session %q: %v", raw, err)
	}
	if stored.Address != want {
		t.Errorf("stored session address %s, want %s", stored.Address, want)
	}
	req := connect.NewRequest(&authv1.GetSessionRequest{})
	req.Header().Set("Authorization", "Bearer "+stored.AccessToken)
	res, err := authv1connect.NewAuthServiceClient(http.DefaultClient, p.gatewayURL).GetSession(t.Context(), req)
	if err != nil {
		t.Fatalf("GetSession with the app's token: %v", err)
	}
	if got := res.Msg.GetSession().GetAddress(); !strings.EqualFold(got, want) {
		t.Errorf("GetSession address %s, want %s", got, want)
	}
}

// TestWalletsWalletConnectConfigured: with a project id (here from the
// environment), the phone-wallet choice is enabled without the "off"
// explanation, and choosing it starts pairing (the provider's code is
// loaded on demand) with a way to cancel. The relay is not reachable from
// this network, so no pairing URI comes.
func TestWalletsWalletConnectConfigured(t *testing.T) {
	requireWebApp(t)
	t.Setenv("STREAMGATE_WALLETCONNECT_PROJECT_ID", "0123456789abcdef0123456789abcdef")
	p := startDev(t)
	b := newBrowser(t, p.gatewayURL)

	b.run("open sign-in", 30*time.Second,
		chromedp.Navigate(p.gatewayURL+"/signin"),
		chromedp.WaitVisible(hookWalletConnect))
	if value[bool](b, "walletconnect enabled", fmt.Sprintf(`document.querySelector(%q).disabled`, hookWalletConnect)) {
		t.Error("the phone-wallet choice is disabled although a project id is configured")
	}
	if value[bool](b, "no explanation", fmt.Sprintf(`document.querySelector(%q) !== null`, hookWCOff)) {
		t.Error(`the "phone wallets are off" explanation shows although a project id is configured`)
	}
	b.run("start pairing", 10*time.Second, chromedp.Click(hookWalletConnect), chromedp.WaitVisible(hookWCPairing))
	b.shot("walletconnect-connecting")
	b.run("cancel pairing", 10*time.Second, chromedp.Click(hookWCCancel))
	b.waitJS("pairing closed and the choice usable again", fmt.Sprintf(`document.querySelector(%q).hidden && !document.querySelector(%q).disabled`, hookWCPairing, hookWalletConnect), 10*time.Second)
	if msg := value[string](b, "no error after cancel", `document.querySelector(".signin .form-error:not([hidden])")?.textContent ?? ""`); msg != "" {
		t.Errorf("cancelling shows the error %q", msg)
	}

	// Left alone, the attempt ends with a sentence about the relay: the
	// provider's code loaded and ran as far as the network allows.
	b.run("pair again", 10*time.Second, chromedp.Click(hookWalletConnect), chromedp.WaitVisible(hookWCPairing))
	b.waitJS("the relay is said to be unreachable", `(document.querySelector(".signin .form-error:not([hidden])")?.textContent ?? "").includes("relay could not be reached")`, 40*time.Second)
	b.shot("walletconnect-no-relay")
	if value[bool](b, "pairing closed", fmt.Sprintf(`!document.querySelector(%q).hidden`, hookWCPairing)) {
		t.Error("the pairing area stays open after the attempt failed")
	}
}

// requireWebApp fails when web/dist has no build: the gateway embeds it.
func requireWebApp(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join("..", "web", "dist", "index.html")); err != nil {
		t.Fatalf("the web app is not built (run `make web`; `make test` does): %v", err)
	}
}
