package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/ethereum/go-ethereum/common"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	streamingv1 "github.com/streamgate/streamgate/gen/go/streamgate/streaming/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/streaming/v1/streamingv1connect"
	"github.com/streamgate/streamgate/internal/devchain"
)

// runPlay is `streamgate play VIDEO_ID [--dash] [--ffplay] [--json]
// [--server URL]`: it asks auth for a playback token with the stored
// session (when there is one for --server), then streaming for the
// video's URLs, and prints the tokenized HLS URL (the DASH one with
// --dash). A player is started only when asked (--ffplay): printing is
// what a script or a remote shell wants, and the URL works in any player.
func runPlay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("play", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: streamgate play VIDEO_ID [--dash] [--ffplay] [--json] [--server URL]")
		fmt.Fprintln(stderr, "\nPrints the video's HLS URL with a playback token in it (gated videos need a\nsession from streamgate login whose wallet holds the NFT). The token expires\nafter a few minutes: run play again for a new URL.\n\nflags:")
		fs.PrintDefaults()
	}
	var c clientFlags
	c.register(fs, `print GetPlaybackInfo's answer as one JSON document: {"hls_url","dash_url","poster_url",...,"token_expire_time","live"}`)
	dash := fs.Bool("dash", false, "print (and with --ffplay play) the DASH MPD URL instead of the HLS one")
	ffplay := fs.Bool("ffplay", false, "then play the URL with ffplay (from FFmpeg; must be on PATH)")
	positional, err := parseInterleaved(fs, args)
	if err != nil {
		return errUsage
	}
	if len(positional) != 1 || positional[0] == "" {
		fs.Usage()
		return errUsage
	}
	base, err := c.base()
	if err != nil {
		fmt.Fprintf(stderr, "streamgate play: %v\n", err)
		return errUsage
	}
	videoID := positional[0]
	player := ""
	if *ffplay {
		// Before any token is issued: a missing player is a setup problem.
		if player, err = exec.LookPath("ffplay"); err != nil {
			return c.result(stdout, errors.New("--ffplay: ffplay is not on PATH (it comes with FFmpeg)"))
		}
	}
	info, grant, err := playbackInfo(ctx, base, videoID)
	if err != nil {
		return c.result(stdout, err)
	}
	u := info.GetHlsUrl()
	if *dash {
		u = info.GetDashUrl()
	}
	if c.json {
		err = printProto(stdout, info)
	} else {
		_, err = fmt.Fprintln(stdout, u)
		switch grant {
		case authv1.PlaybackGrant_PLAYBACK_GRANT_CREATOR:
			fmt.Fprintln(stderr, "you created this video: you watch it whatever its access policy")
		case authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER:
			fmt.Fprintln(stderr, "your wallet holds what the video's access policy asks for")
		case authv1.PlaybackGrant_PLAYBACK_GRANT_PREVIEW:
			fmt.Fprintln(stderr, "your wallet does not hold the pass: this URL plays the free preview only")
		}
		switch {
		case !info.GetEncrypted():
			fmt.Fprintln(stderr, "packaged in clear: the token in the URLs is what guards the media")
		case grant == authv1.PlaybackGrant_PLAYBACK_GRANT_PREVIEW:
			fmt.Fprintf(stderr, "encrypted: a ClearKey player gets the preview's key from %s, and no key for the rest\n", info.GetLicenceUrl())
		default:
			fmt.Fprintf(stderr, "encrypted: a ClearKey player (hls.js, shaka-player, the web app) gets the full video's keys from %s\n", info.GetLicenceUrl())
		}
		if e := info.GetTokenExpireTime(); e != nil {
			fmt.Fprintf(stderr, "the token in this URL expires at %s (run play again for a new one)\n", e.AsTime().Local().Format(time.TimeOnly))
		}
	}
	if err != nil || player == "" {
		return err
	}
	if info.GetEncrypted() {
		// FFmpeg's HLS and DASH readers ask no licence server for keys.
		return c.result(stdout, errors.New("--ffplay: this video is encrypted and ffplay cannot fetch ClearKey keys; open the URL in the web app or another ClearKey player"))
	}
	cmd := exec.CommandContext(ctx, player, "-hide_banner", "-loglevel", "warning", "-autoexit", "-window_title", "StreamGate "+videoID, u)
	cmd.Stdout, cmd.Stderr = stderr, stderr // stdout stays the URL (or JSON)
	if err := cmd.Run(); err != nil {
		return c.result(stdout, fmt.Errorf("ffplay: %w", err))
	}
	return nil
}

// playbackInfo gets a playback token when a session for base is stored,
// then the video's playback URLs, and why the token was granted. A refusal
// names what the video needs.
func playbackInfo(ctx context.Context, base, videoID string) (_ *streamingv1.GetPlaybackInfoResponse, grant authv1.PlaybackGrant, _ error) {
	sess := sessionFor(base)
	token := ""
	if sess != nil {
		auth := authv1connect.NewAuthServiceClient(&http.Client{}, base, connect.WithInterceptors(sessionInterceptor{}))
		res, err := auth.IssuePlaybackToken(ctx, connect.NewRequest(&authv1.IssuePlaybackTokenRequest{VideoId: videoID}))
		switch connect.CodeOf(err) {
		case connect.CodePermissionDenied:
			return nil, 0, refusal(ctx, base, videoID, sess.Address, err)
		case connect.CodeFailedPrecondition:
			return nil, 0, fmt.Errorf("video %s cannot be played yet: %w", videoID, err)
		}
		if err != nil {
			return nil, 0, fmt.Errorf("playback token for %s: %w", videoID, err)
		}
		token, grant = res.Msg.GetToken(), res.Msg.GetGrant()
	}
	streaming := streamingv1connect.NewStreamingServiceClient(&http.Client{}, base)
	res, err := streaming.GetPlaybackInfo(ctx, connect.NewRequest(&streamingv1.GetPlaybackInfoRequest{VideoId: videoID, Token: token}))
	switch connect.CodeOf(err) {
	case connect.CodeUnauthenticated:
		// Gated, and we had no session to ask for a token with.
		return nil, 0, refusal(ctx, base, videoID, "", err)
	case connect.CodePermissionDenied:
		addr := ""
		if sess != nil {
			addr = sess.Address
		}
		return nil, 0, refusal(ctx, base, videoID, addr, err)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("playback info for %s: %w", videoID, err)
	}
	return res.Msg, grant, nil
}

// refusal explains a refused playback: which tokens the video's policy
// asks for (read from the public video metadata) and, on the dev chain,
// how to mint one. It keeps the server's code (PermissionDenied, or
// Unauthenticated when no wallet was signed in).
func refusal(ctx context.Context, base, videoID, wallet string, cause error) error {
	needs := "the tokens its access policy names"
	var mint string
	res, err := newMetadataClient(base, false).GetVideo(ctx, connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: videoID}))
	if err == nil {
		needs = describePolicy(res.Msg.GetVideo().GetAccessPolicy())
		mint = devMintHint(res.Msg.GetVideo().GetAccessPolicy(), wallet)
	}
	var msg string
	if wallet == "" {
		msg = fmt.Sprintf("video %s is gated: it needs %s; sign in with a wallet that holds it (streamgate login)", videoID, needs)
	} else {
		msg = fmt.Sprintf("access denied: video %s needs %s, and %s does not hold it", videoID, needs, wallet)
	}
	if mint != "" {
		msg += "; on the dev chain, " + mint + " mints one"
	}
	return connect.NewError(connect.CodeOf(cause), errors.New(msg))
}

// describePolicy says in words what a policy asks for, e.g. "an ERC-721
// token of 0x5FbD... on chain 1337".
func describePolicy(p *authv1.AccessPolicy) string {
	if p == nil || len(p.GetRules()) == 0 {
		return "the tokens its access policy names"
	}
	var parts []string
	for _, r := range p.GetRules() {
		parts = append(parts, describeRule(r))
	}
	if len(parts) == 1 {
		return parts[0]
	}
	if p.GetMode() == authv1.AccessMode_ACCESS_MODE_ANY {
		return "one of: " + strings.Join(parts, "; or ")
	}
	return "all of: " + strings.Join(parts, "; and ")
}

func describeRule(r *authv1.AccessRule) string {
	where := fmt.Sprintf("%s on chain %d", r.GetContractAddress(), r.GetChainId())
	least := r.GetMinBalance()
	if least == "" {
		least = "1"
	}
	switch r.GetStandard() {
	case authv1.TokenStandard_TOKEN_STANDARD_ERC721:
		switch {
		case r.TokenId != nil:
			return fmt.Sprintf("ERC-721 token #%s of %s", r.GetTokenId(), where)
		case least == "1":
			return "an ERC-721 token of " + where
		default:
			return fmt.Sprintf("%s ERC-721 tokens of %s", least, where)
		}
	case authv1.TokenStandard_TOKEN_STANDARD_ERC1155:
		return fmt.Sprintf("%s of ERC-1155 token id %s of %s", least, r.GetTokenId(), where)
	case authv1.TokenStandard_TOKEN_STANDARD_ERC20:
		return fmt.Sprintf("%s (smallest units) of ERC-20 %s", least, where)
	}
	return "a token of " + where
}

// devMintHint is the dev-mint command that satisfies a policy made of the
// dev chain's demo contracts, or "".
func devMintHint(p *authv1.AccessPolicy, wallet string) string {
	if wallet == "" {
		wallet = "<your address>"
	}
	for _, r := range p.GetRules() {
		if r.GetChainId() != devchain.ChainID || !common.IsHexAddress(r.GetContractAddress()) {
			continue
		}
		switch c := common.HexToAddress(r.GetContractAddress()); {
		case c == devchain.DemoPassAddress() && r.GetStandard() == authv1.TokenStandard_TOKEN_STANDARD_ERC721 && r.TokenId == nil && (r.GetMinBalance() == "" || r.GetMinBalance() == "1"):
			return "`streamgate dev-mint --to " + wallet + "`"
		case c == devchain.DemoItemsAddress() && r.GetStandard() == authv1.TokenStandard_TOKEN_STANDARD_ERC1155:
			amount := r.GetMinBalance()
			if amount == "" {
				amount = "1"
			}
			return fmt.Sprintf("`streamgate dev-mint --to %s --standard erc1155 --token-id %s --amount %s`", wallet, r.GetTokenId(), amount)
		}
	}
	return ""
}
