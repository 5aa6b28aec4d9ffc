package streaming

import (
	"context"
	"errors"
	"net/url"
	"path"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	streamingv1 "github.com/streamgate/streamgate/gen/go/streamgate/streaming/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/streaming/v1/streamingv1connect"
	"github.com/streamgate/streamgate/internal/rpcerr"
)

// handler adapts Service to the generated interface.
type handler struct {
	streamingv1connect.UnimplementedStreamingServiceHandler
	svc *Service
}

// playURL is the absolute URL of rel in a video directory, with the token.
func (s *Service) playURL(id, rel, token string) string {
	return tokenMapper(s.base+"/play/"+id+"/", token)(rel)
}

func (s *Service) exists(ctx context.Context, key string) (bool, error) {
	_, err := s.blobs.Stat(ctx, key)
	if err == nil {
		return true, nil
	}
	if errors.Is(blobErr(err), errNotFound) {
		return false, nil
	}
	s.logger.WarnContext(ctx, "blob stat failed", "key", key, "err", err)
	return false, errUnavailable
}

// PlaybackInfo is GetPlaybackInfo's domain logic.
func (s *Service) PlaybackInfo(ctx context.Context, id, token string) (*streamingv1.GetPlaybackInfoResponse, error) {
	g, err := s.authorize(ctx, id, token)
	if err != nil {
		return nil, err
	}
	prefix := s.videoPrefix(id)
	master, _, err := s.readManifest(ctx, prefix+"master.m3u8")
	if errors.Is(err, errNotFound) {
		return nil, errNotPlayable
	} else if err != nil {
		return nil, err
	}
	out := &streamingv1.GetPlaybackInfoResponse{
		HlsUrl:  s.playURL(id, "master.m3u8", g.token),
		DashUrl: s.playURL(id, "manifest.mpd", g.token),
		Live:    g.live(),
	}
	if exp := g.expiry(); !exp.IsZero() {
		out.TokenExpireTime = timestamppb.New(exp)
	}
	if out.Encrypted, err = s.videoEncrypted(ctx, g, master); err != nil {
		return nil, err
	}
	if out.Encrypted {
		out.LicenceUrl = s.playURL(id, "licence", g.token)
	}
	if ok, err := s.exists(ctx, prefix+"poster.jpg"); err != nil {
		return nil, err
	} else if ok {
		out.PosterUrl = s.playURL(id, "poster.jpg", g.token)
	}
	if ok, err := s.exists(ctx, prefix+"storyboard.vtt"); err != nil {
		return nil, err
	} else if ok {
		out.StoryboardUrl = s.playURL(id, "storyboard.vtt", g.token)
	}
	if !g.live() && len(g.video.GetRenditions()) > 0 {
		out.Renditions = g.video.GetRenditions()
		return out, nil
	}
	// Live: the renditions listed in the master with a playable segment,
	// in master order (highest bandwidth first).
	for _, rel := range masterPlaylists(master) {
		name, _, _ := strings.Cut(rel, "/")
		b, _, err := s.readManifest(ctx, prefix+rel)
		if errors.Is(err, errNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		pl := parsePlaylist(b)
		if len(pl.segs) == 0 {
			continue
		}
		out.Renditions = append(out.Renditions, &metadatav1.Rendition{
			Name: name, PlaylistPath: rel, SegmentCount: uint32(len(pl.segs)),
		})
	}
	if len(out.Renditions) == 0 {
		return nil, errNotPlayable
	}
	return out, nil
}

// masterPlaylists returns the media playlist paths a master refers to
// that fit the layout: the variant streams first (in master order, highest
// bandwidth first), then the alternative renditions (audio).
func masterPlaylists(master []byte) []string {
	var variants, alternatives []string
	seen := map[string]bool{}
	add := func(list *[]string, u string) {
		if k, ok := parseAsset(u); ok && k == assetMediaPlaylist && !seen[u] {
			seen[u] = true
			*list = append(*list, u)
		}
	}
	for line := range strings.Lines(string(master)) {
		t := strings.TrimSpace(line)
		switch {
		case t == "":
		case strings.HasPrefix(t, "#"):
			for _, m := range hlsURIAttr.FindAllStringSubmatch(t, -1) {
				add(&alternatives, m[1])
			}
		default:
			add(&variants, t)
		}
	}
	return append(variants, alternatives...)
}

// Manifest is GetManifest's domain logic.
func (s *Service) Manifest(ctx context.Context, req *streamingv1.GetManifestRequest) (*streamingv1.GetManifestResponse, error) {
	var rel string
	var kind assetKind
	switch req.GetFormat() {
	case streamingv1.ManifestFormat_MANIFEST_FORMAT_HLS_MASTER:
		rel, kind = "master.m3u8", assetMaster
	case streamingv1.ManifestFormat_MANIFEST_FORMAT_DASH:
		rel, kind = "manifest.mpd", assetMPD
	case streamingv1.ManifestFormat_MANIFEST_FORMAT_HLS_MEDIA:
		if !renditionRe.MatchString(req.GetRendition()) {
			return nil, errors.Join(errInvalid, errors.New("rendition: want [a-z0-9-]{1,32} for MANIFEST_FORMAT_HLS_MEDIA"))
		}
		rel, kind = req.GetRendition()+"/playlist.m3u8", assetMediaPlaylist
	default:
		return nil, errors.Join(errInvalid, errors.New("format is required"))
	}
	if kind != assetMediaPlaylist && req.GetRendition() != "" {
		return nil, errors.Join(errInvalid, errors.New("rendition must be empty for this format"))
	}
	g, err := s.authorize(ctx, req.GetVideoId(), req.GetToken())
	if err != nil {
		return nil, err
	}
	b, _, err := s.grantManifest(ctx, g, kind, rel)
	if errors.Is(err, errNotFound) && kind != assetMediaPlaylist {
		return nil, errNotPlayable
	} else if err != nil {
		return nil, err
	}
	dir := path.Dir(rel)
	base := s.base + "/play/" + url.PathEscape(req.GetVideoId()) + "/"
	if dir != "." {
		base += dir + "/"
	}
	cut, err := s.cutManifest(g, kind, b)
	if err != nil {
		return nil, err
	}
	content := rewrite(kind, cut, tokenMapper(base, g.token))
	res := &streamingv1.GetManifestResponse{Content: string(content), ContentType: kind.contentType()}
	switch kind {
	case assetMaster:
		res.Complete = !g.live()
	case assetMediaPlaylist:
		res.Complete = parsePlaylist(cut).ended
	case assetMPD:
		res.Complete = strings.Contains(string(b), `type="static"`)
	}
	return res, nil
}

func (h *handler) GetPlaybackInfo(ctx context.Context, req *connect.Request[streamingv1.GetPlaybackInfoRequest]) (*connect.Response[streamingv1.GetPlaybackInfoResponse], error) {
	res, err := h.svc.PlaybackInfo(ctx, req.Msg.GetVideoId(), req.Msg.GetToken())
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	return connect.NewResponse(res), nil
}

func (h *handler) GetManifest(ctx context.Context, req *connect.Request[streamingv1.GetManifestRequest]) (*connect.Response[streamingv1.GetManifestResponse], error) {
	res, err := h.svc.Manifest(ctx, req.Msg)
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	return connect.NewResponse(res), nil
}

func (h *handler) StreamSegments(ctx context.Context, req *connect.Request[streamingv1.StreamSegmentsRequest], stream *connect.ServerStream[streamingv1.StreamSegmentsResponse]) error {
	return rpcerr.ToConnect(ctx, h.svc.logger, h.svc.StreamSegments(ctx, req.Msg, stream.Send), errorTable)
}
