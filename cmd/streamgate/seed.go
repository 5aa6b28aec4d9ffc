package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"

	"connectrpc.com/connect"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	"github.com/streamgate/streamgate/internal/devchain"
)

// demoTitle is the seeded video's title. The seed looks for it among the
// demo wallet's videos, so a restart on the same --data-dir does not upload
// a second copy.
const demoTitle = "StreamGate demo (gated)"

// errNoFFmpeg: the demo clip cannot be made; dev runs on without a seed.
var errNoFFmpeg = errors.New("ffmpeg is not on PATH: no demo video (scripts/install-deps.sh installs it)")

// seedConfig says where the platform is and what gates the demo.
type seedConfig struct {
	// Server is the gateway's bound address as a base URL; calls go there.
	Server string
	// PublicURL is the gateway's public URL: the SIWE domain and the
	// printed link derive from it.
	PublicURL string
	// Pass is the dev chain's demo ERC-721 contract.
	Pass common.Address
	// Dir keeps the generated clip and the upload's resume state.
	Dir string
}

// seedDemo makes sure the demo wallet has one gated demo video: it signs in
// as that wallet through the gateway (real SIWE), looks for demoTitle among
// its videos, and otherwise generates a clip with ffmpeg and uploads it with
// an access policy requiring the demo pass. It prints the demo line on
// stdout, then follows a new video's transcode to its end (logging it), and
// returns the video id.
func seedDemo(ctx context.Context, cfg seedConfig, stdout io.Writer, logger *slog.Logger) (string, error) {
	key, err := crypto.HexToECDSA(devchain.DemoWalletKeyHex)
	if err != nil {
		return "", err
	}
	pub, err := url.Parse(cfg.PublicURL)
	if err != nil {
		return "", fmt.Errorf("public URL: %w", err)
	}
	sess, err := signIn(ctx, cfg.Server, pub.Host, key, devchain.ChainID)
	if err != nil {
		return "", err
	}
	// The seed's own session, never the user's stored one.
	bearer := func(_ context.Context, h http.Header) error {
		h.Set("Authorization", "Bearer "+sess.AccessToken)
		return nil
	}
	meta := metadatav1connect.NewMetadataServiceClient(&http.Client{}, cfg.Server,
		connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
			return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
				_ = bearer(ctx, req.Header())
				return next(ctx, req)
			}
		})))

	existing, err := findDemo(ctx, meta, sess.Address)
	if err != nil {
		return "", err
	}
	switch existing.GetStatus() {
	case metadatav1.VideoStatus_VIDEO_STATUS_READY, metadatav1.VideoStatus_VIDEO_STATUS_PROCESSING:
		printDemo(stdout, cfg, existing.GetId())
		logger.Info("demo video already seeded", "video_id", existing.GetId(), "status", statusName(existing.GetStatus()))
		return existing.GetId(), nil
	case metadatav1.VideoStatus_VIDEO_STATUS_FAILED:
		// A failed demo is no demo: replace it rather than keep two.
		logger.Warn("the seeded demo video failed; replacing it", "video_id", existing.GetId(), "reason", existing.GetStatusReason())
		if _, err := meta.DeleteVideo(ctx, connect.NewRequest(&metadatav1.DeleteVideoRequest{VideoId: existing.GetId()})); err != nil {
			return "", fmt.Errorf("delete the failed demo video: %w", err)
		}
	}
	// UPLOADING (a seed interrupted mid-upload) resumes below: the clip and
	// the resume state are kept in cfg.Dir.

	clip, err := demoClip(ctx, cfg.Dir, logger)
	if err != nil {
		return "", err
	}
	logger.Info("uploading the demo video", "file", clip)
	o := uploadOptions{
		file:    clip,
		title:   demoTitle,
		gateway: cfg.Server,
		policy: &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL, Rules: []*authv1.AccessRule{{
			ChainId: devchain.ChainID, ContractAddress: cfg.Pass.Hex(), Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721,
		}}},
		auth:     bearer,
		stateDir: filepath.Join(cfg.Dir, "upload-state"),
	}
	up, err := uploadFile(ctx, o, io.Discard)
	if err != nil {
		return "", fmt.Errorf("upload the demo video: %w", err)
	}
	if existing != nil && existing.GetStatus() == metadatav1.VideoStatus_VIDEO_STATUS_UPLOADING && existing.GetId() != up.GetVideoId() {
		// The interrupted upload could not be resumed (its state was
		// lost): drop it, so there is still one demo.
		if _, err := meta.DeleteVideo(ctx, connect.NewRequest(&metadatav1.DeleteVideoRequest{VideoId: existing.GetId()})); err != nil {
			logger.Warn("could not delete an abandoned demo upload", "video_id", existing.GetId(), "err", err)
		}
	}
	printDemo(stdout, cfg, up.GetVideoId())

	// Follow the transcode (a WatchJob stream, not polling) so the log says
	// when the demo is fully playable.
	tc := newTranscoderClient(o)
	job, err := findJob(ctx, tc, up.GetVideoId(), jobAppearTimeout)
	if err != nil {
		return up.GetVideoId(), err
	}
	job, err = newWatcher(tc, io.Discard).watch(ctx, job.GetId())
	if err != nil {
		return up.GetVideoId(), err
	}
	if err := reportTerminal(io.Discard, job); err != nil {
		return up.GetVideoId(), fmt.Errorf("demo video %s: %w", up.GetVideoId(), err)
	}
	logger.Info("demo video ready", "video_id", up.GetVideoId(), "job_id", job.GetId())
	return up.GetVideoId(), nil
}

// findDemo returns the newest of creator's videos titled demoTitle (not
// deleted), or nil.
func findDemo(ctx context.Context, meta metadatav1connect.MetadataServiceClient, creator string) (*metadatav1.Video, error) {
	req := &metadatav1.ListVideosRequest{CreatorAddress: creator, PageSize: 100}
	for {
		res, err := meta.ListVideos(ctx, connect.NewRequest(req))
		if err != nil {
			return nil, fmt.Errorf("list the demo wallet's videos: %w", err)
		}
		for _, v := range res.Msg.GetVideos() {
			if v.GetTitle() == demoTitle && v.GetStatus() != metadatav1.VideoStatus_VIDEO_STATUS_DELETED {
				return v, nil
			}
		}
		if res.Msg.GetNextPageToken() == "" {
			return nil, nil
		}
		req.PageToken = res.Msg.GetNextPageToken()
	}
}

func printDemo(stdout io.Writer, cfg seedConfig, videoID string) {
	fmt.Fprintf(stdout, "demo:     %s/watch/%s (gated by %s; `streamgate dev-mint --to <address>` grants access)\n",
		cfg.PublicURL, videoID, cfg.Pass.Hex())
}

// demoClip returns dir/demo.mp4, making it first when needed: 8 s of
// 1280x720 test pattern with a tone, H.264/AAC. It is written under a
// temporary name and renamed, so a clip cut short by Ctrl-C is never
// uploaded.
func demoClip(ctx context.Context, dir string, logger *slog.Logger) (string, error) {
	out := filepath.Join(dir, "demo.mp4")
	if st, err := os.Stat(out); err == nil && st.Size() > 0 {
		return out, nil
	}
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		return "", errNoFFmpeg
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	logger.Info("generating the demo clip", "file", out)
	tmp := out + ".part"
	cmd := exec.CommandContext(ctx, ffmpeg, "-nostdin", "-v", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=8",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=8",
		"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
		"-movflags", "+faststart", "-f", "mp4", tmp)
	if b, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("ffmpeg: %w: %s", err, b)
	}
	return out, os.Rename(tmp, out)
}
