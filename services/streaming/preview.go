package streaming

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"time"

	"github.com/streamgate/streamgate/internal/preview"
)

// errPreviewEnded refuses a segment past a preview token's free preview.
var errPreviewEnded = errors.New("the free preview ends before this segment: a wallet holding the pass watches on")

// errNoDASHPreview refuses a preview token the MPD of an encrypted video
// packaged without a preview key (its preview was set after the encode):
// every segment is under the full key, which a preview viewer never gets.
var errNoDASHPreview = errors.New("this video has no free preview to play: it was encrypted before its preview was set, so only a wallet holding the pass watches it")

// previewMPD is the transcoder's MPD of the preview key's segments
// (transcode.PreviewMPDName).
const previewMPD = "manifest-preview.mpd"

// grantManifest reads the manifest at rel (in the video directory) that
// the grant is served. A preview grant asking for the MPD of an encrypted
// video gets the preview key's MPD instead: manifest.mpd signals the full
// key, and its init segments name it, so a preview viewer could decrypt
// none of the free segments. The preview MPD ends where the preview key's
// segments did at encode time; a preview lengthened since then is served
// no longer than that, as the full key's segments past it are refused to
// the preview viewer anyway (HLS lists them, and the player stops at the
// key refusal).
func (s *Service) grantManifest(ctx context.Context, g *grant, kind assetKind, rel string) ([]byte, time.Time, error) {
	prefix := s.videoPrefix(g.id)
	b, mod, err := s.readManifest(ctx, prefix+rel)
	if err != nil || kind != assetMPD || rel == previewMPD || g.preview() <= 0 || !encryptedManifest(kind, b) {
		return b, mod, err
	}
	// The transcoder publishes the preview MPD before manifest.mpd, so
	// its absence now is for good.
	b, mod, err = s.readManifest(ctx, prefix+previewMPD)
	if errors.Is(err, errNotFound) {
		s.logger.WarnContext(ctx, "preview refused: encrypted video without a preview MPD", "video_id", g.id)
		return nil, time.Time{}, errNoDASHPreview
	}
	return b, mod, err
}

// preview is how much of the video the grant plays; 0: all of it.
func (g *grant) preview() time.Duration {
	if g.claims == nil {
		return 0
	}
	return time.Duration(g.claims.PreviewSeconds) * time.Second
}

// cutManifest cuts a manifest to a preview grant's free part: media
// playlists end at the first segment boundary at or after the preview,
// and so does the DASH presentation; the master playlist and the
// storyboard stay whole (they list no media past the cut). A manifest
// that cannot be cut is not served: the preview fails closed.
func (s *Service) cutManifest(g *grant, kind assetKind, b []byte) ([]byte, error) {
	want := g.preview()
	if want <= 0 {
		return b, nil
	}
	var out []byte
	var err error
	switch kind {
	case assetMediaPlaylist:
		out, _, err = preview.HLS(b, want)
	case assetMPD:
		out, _, err = preview.DASH(b, want)
	default:
		return b, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: preview of %s: %v", errUnavailable, g.id, err)
	}
	return out, nil
}

// freeSegments is how many segments of a media playlist a preview grant
// may fetch: those listed before the cut (all for a grant without one).
func freeSegments(g *grant, playlist []byte) (int, error) {
	if g.preview() <= 0 {
		return len(parsePlaylist(playlist).segs), nil
	}
	_, cut, err := preview.HLS(playlist, g.preview())
	if err != nil {
		return 0, fmt.Errorf("%w: preview of %s: %v", errUnavailable, g.id, err)
	}
	return cut.Segments, nil
}

// checkPreviewSegment refuses a media segment (rel: <rendition>/<name>)
// past a preview grant's cut. Segment names in the blob store are those
// of the rendition's playlist, so a guessed name past the cut, or one the
// playlist does not list, is refused like a listed one.
func (s *Service) checkPreviewSegment(ctx context.Context, g *grant, rel string) error {
	if g.preview() <= 0 {
		return nil
	}
	rendition, name := path.Split(rel)
	free, err := s.previewNames(ctx, g, path.Clean(rendition))
	if err != nil {
		return err
	}
	if slices.Contains(free, name) {
		return nil
	}
	s.metrics.refusal(ctx, errPreviewEnded)
	return errPreviewEnded
}

// previewNames are the segment names of a rendition a preview of the
// grant's length may fetch. Once the playlist reaches the cut (or ends)
// they never change, and are remembered, so a preview viewer's segments
// cost no playlist read each; while the encode has not reached the cut,
// they are read again every time.
func (s *Service) previewNames(ctx context.Context, g *grant, rendition string) ([]string, error) {
	key := fmt.Sprintf("%s/%s/%d", g.id, rendition, g.claims.PreviewSeconds)
	s.pmu.Lock()
	names, ok := s.previews[key]
	s.pmu.Unlock()
	if ok {
		return names, nil
	}
	b, _, err := s.readManifest(ctx, s.videoPrefix(g.id)+rendition+"/playlist.m3u8")
	if err != nil {
		return nil, err
	}
	cut, c, err := preview.HLS(b, g.preview())
	if err != nil {
		return nil, fmt.Errorf("%w: preview of %s: %v", errUnavailable, g.id, err)
	}
	pl := parsePlaylist(cut)
	for _, sg := range pl.segs[:min(c.Segments, len(pl.segs))] {
		names = append(names, sg.name)
	}
	if pl.ended {
		s.pmu.Lock()
		if len(s.previews) >= maxEncryptionEntries {
			clear(s.previews) // each preview then costs one playlist read again
		}
		s.previews[key] = names
		s.pmu.Unlock()
	}
	return names, nil
}
