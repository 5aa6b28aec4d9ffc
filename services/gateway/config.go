package gateway

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	gatewayv1 "github.com/streamgate/streamgate/gen/go/streamgate/gateway/v1"
	"github.com/streamgate/streamgate/internal/identity"
)

// Config is what GetClientConfig tells clients. URLs are absolute; a
// trailing slash is dropped.
type Config struct {
	// APIBaseURL is the gateway's public URL, e.g.
	// "https://video.example.com" or "http://127.0.0.1:8080". Required.
	APIBaseURL string
	// Chains a wallet may sign in on, the default first. Required.
	Chains []Chain
	// SIWEDomain is the authority SIWE messages carry (auth's SignIn
	// checks the same); default the host[:port] of APIBaseURL.
	SIWEDomain string
	// SIWEURI is the URI SIWE messages carry; default APIBaseURL.
	SIWEURI string
	// UploadBaseURL is the tus endpoint; default APIBaseURL + "/uploads".
	UploadBaseURL string
	// PlaybackBaseURL is where media is delivered; default APIBaseURL +
	// "/play".
	PlaybackBaseURL string
	// Upload are the limits the upload service applies.
	Upload UploadLimits
	// Version of the build; default "dev".
	Version string
	// DevMode is set by `streamgate dev` only.
	DevMode bool
	// WalletConnectProjectID lets the web app reach phone wallets through
	// WalletConnect v2; empty offers none. Public (browsers see it).
	WalletConnectProjectID string
	// WebApp serves the browser app at every page path (see
	// web.IsAPIPath for the rest); nil serves no app.
	WebApp http.Handler
}

// Chain is one supported chain.
type Chain struct {
	// ID is the EIP-155 chain id. Required.
	ID uint64
	// Name is shown to people. Required.
	Name string
	// RPCURL is a public JSON-RPC URL for wallet_addEthereumChain; empty
	// when none may be published.
	RPCURL string
	// DemoNFTContract is the demo ERC-721 collection, if any.
	DemoNFTContract string
}

// UploadLimits mirror the upload service's configuration.
type UploadLimits struct {
	// MaxUploadBytes is the largest file accepted. Required.
	MaxUploadBytes uint64
	// MaxDuration is the longest media accepted; 0 for no limit.
	MaxDuration time.Duration
	// AllowedContentTypes are the accepted media types. Required.
	AllowedContentTypes []string
	// MaxTitleLength in code points. Required.
	MaxTitleLength uint32
}

func absoluteURL(name, s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("gateway: Config.%s %q must be an absolute http(s) URL", name, s)
	}
	return strings.TrimRight(s, "/"), nil
}

// validProjectID accepts a WalletConnect project id: up to 64 ASCII letters
// and digits. It catches a pasted URL or quotes, and leaves the id's exact
// form to WalletConnect.
func validProjectID(id string) bool {
	if len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return false
		}
	}
	return true
}

// clientConfig validates cfg and builds the response GetClientConfig
// returns.
func (cfg Config) clientConfig() (*gatewayv1.GetClientConfigResponse, error) {
	api, err := absoluteURL("APIBaseURL", cfg.APIBaseURL)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(api)
	res := &gatewayv1.GetClientConfigResponse{
		ApiBaseUrl:      api,
		SiweDomain:      cmp.Or(cfg.SIWEDomain, u.Host),
		SiweUri:         cmp.Or(cfg.SIWEURI, api),
		UploadBaseUrl:   cmp.Or(cfg.UploadBaseURL, api+"/uploads"),
		PlaybackBaseUrl: cmp.Or(cfg.PlaybackBaseURL, api+"/play"),
		GatewayVersion:  cmp.Or(cfg.Version, "dev"),
		DevMode:         cfg.DevMode,

		WalletconnectProjectId: cfg.WalletConnectProjectID,
	}
	if id := cfg.WalletConnectProjectID; id != "" && !validProjectID(id) {
		return nil, fmt.Errorf("gateway: Config.WalletConnectProjectID %q must be letters and digits only (a WalletConnect Cloud project id is 32 hex digits)", id)
	}
	if res.SiweUri, err = absoluteURL("SIWEURI", res.SiweUri); err != nil {
		return nil, err
	}
	if res.UploadBaseUrl, err = absoluteURL("UploadBaseURL", res.UploadBaseUrl); err != nil {
		return nil, err
	}
	if res.PlaybackBaseUrl, err = absoluteURL("PlaybackBaseURL", res.PlaybackBaseUrl); err != nil {
		return nil, err
	}
	if strings.ContainsAny(res.SiweDomain, "/?# ") {
		return nil, fmt.Errorf("gateway: Config.SIWEDomain %q must be an authority (host[:port])", res.SiweDomain)
	}
	if len(cfg.Chains) == 0 {
		return nil, errors.New("gateway: Config.Chains needs at least one chain")
	}
	seen := map[uint64]bool{}
	for _, c := range cfg.Chains {
		if c.ID == 0 || c.Name == "" {
			return nil, fmt.Errorf("gateway: chain %d %q needs an id and a name", c.ID, c.Name)
		}
		if seen[c.ID] {
			return nil, fmt.Errorf("gateway: chain %d listed twice", c.ID)
		}
		seen[c.ID] = true
		ch := &gatewayv1.Chain{ChainId: c.ID, Name: c.Name}
		if c.RPCURL != "" {
			if ch.RpcUrl, err = absoluteURL("Chains.RPCURL", c.RPCURL); err != nil {
				return nil, err
			}
		}
		if c.DemoNFTContract != "" {
			if ch.DemoNftContractAddress, err = identity.NormalizeAddress(c.DemoNFTContract); err != nil {
				return nil, fmt.Errorf("gateway: chain %d demo contract: %w", c.ID, err)
			}
		}
		res.Chains = append(res.Chains, ch)
	}
	l := cfg.Upload
	if l.MaxUploadBytes == 0 || len(l.AllowedContentTypes) == 0 || l.MaxTitleLength == 0 {
		return nil, errors.New("gateway: Config.Upload needs MaxUploadBytes, AllowedContentTypes and MaxTitleLength")
	}
	if l.MaxDuration < 0 {
		return nil, errors.New("gateway: negative Config.Upload.MaxDuration")
	}
	res.UploadLimits = &gatewayv1.UploadLimits{MaxUploadBytes: l.MaxUploadBytes, MaxTitleLength: l.MaxTitleLength}
	for _, t := range l.AllowedContentTypes {
		res.UploadLimits.AllowedContentTypes = append(res.UploadLimits.AllowedContentTypes, strings.ToLower(strings.TrimSpace(t)))
	}
	if l.MaxDuration > 0 {
		res.UploadLimits.MaxDuration = durationpb.New(l.MaxDuration)
	}
	return res, nil
}
