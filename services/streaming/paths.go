package streaming

import (
	"regexp"
	"strings"

	"github.com/streamgate/streamgate/internal/video"
)

// assetKind is what a path inside a video directory names.
type assetKind int

const (
	assetMaster assetKind = iota + 1
	assetMPD
	assetMediaPlaylist
	assetInit
	assetSegment
	assetPoster
	assetStoryboardImage
	assetStoryboardVTT
	// assetLicence is the ClearKey licence endpoint (POST), not a file.
	assetLicence
)

// manifest reports whether the asset is text rewritten before serving.
func (k assetKind) manifest() bool {
	return k == assetMaster || k == assetMPD || k == assetMediaPlaylist || k == assetStoryboardVTT
}

func (k assetKind) contentType() string {
	switch k {
	case assetMaster, assetMediaPlaylist:
		return "application/vnd.apple.mpegurl"
	case assetMPD:
		return "application/dash+xml"
	case assetInit, assetSegment:
		return "video/mp4"
	case assetPoster, assetStoryboardImage:
		return "image/jpeg"
	case assetStoryboardVTT:
		return "text/vtt; charset=utf-8"
	}
	return "application/octet-stream"
}

// An encrypted rendition with a free preview has a second init segment,
// init-preview.m4s, under the preview key (internal/transcode's
// previewInitName): its preview segments need it.
var renditionFileRe = regexp.MustCompile(`^([a-z0-9-]{1,32})/(playlist\.m3u8|init\.m4s|init-preview\.m4s|seg-[0-9]{5,9}\.m4s)$`)

// parseAsset checks a path relative to the video directory against the
// transcoder's layout. Anything else (traversal, encoded bytes, absolute
// paths, backslashes, other names) is refused.
func parseAsset(rel string) (assetKind, bool) {
	switch rel {
	case "master.m3u8":
		return assetMaster, true
	case "manifest.mpd", previewMPD:
		return assetMPD, true
	case "poster.jpg":
		return assetPoster, true
	case "storyboard.jpg":
		return assetStoryboardImage, true
	case "storyboard.vtt":
		return assetStoryboardVTT, true
	case "licence":
		return assetLicence, true
	}
	// A key URI written relative to a media playlist ("licence" rather
	// than "../licence") names the same endpoint.
	if r, ok := strings.CutSuffix(rel, "/licence"); ok && renditionRe.MatchString(r) {
		return assetLicence, true
	}
	m := renditionFileRe.FindStringSubmatch(rel)
	if m == nil {
		return 0, false
	}
	switch {
	case m[2] == "playlist.m3u8":
		return assetMediaPlaylist, true
	case m[2] == "init.m4s", m[2] == "init-preview.m4s":
		return assetInit, true
	case strings.HasPrefix(m[2], "seg-"):
		return assetSegment, true
	}
	return 0, false
}

// parsePlayPath splits "/play/<video_id>/<rel>" as sent on the wire (the
// escaped path, so percent-encoded bytes never reach the layout check
// decoded).
func parsePlayPath(escaped string) (id, rel string, kind assetKind, ok bool) {
	rest, found := strings.CutPrefix(escaped, "/play/")
	if !found || strings.ContainsAny(rest, "%\\\x00") {
		return "", "", 0, false
	}
	id, rel, found = strings.Cut(rest, "/")
	if !found || video.CheckID(id) != nil {
		return "", "", 0, false
	}
	kind, ok = parseAsset(rel)
	return id, rel, kind, ok
}
