package streaming

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"time"
)

// maxEncryptionEntries bounds the remembered encryption of renditions.
const maxEncryptionEntries = 16384

type encryptionEntry struct {
	encrypted bool
	until     time.Time // zero: for good
}

// hlsKeyTag is an EXT-X-KEY that encrypts (METHOD=NONE does not).
var hlsKeyTag = regexp.MustCompile(`(?m)^#EXT-X-KEY:(?:.*,)?METHOD=(?:SAMPLE-AES|SAMPLE-AES-CTR|AES-128)\b`)

// encryptedManifest reports whether a manifest signals encrypted media: an
// encrypting EXT-X-KEY in a media playlist, a ContentProtection element in
// the MPD.
func encryptedManifest(kind assetKind, b []byte) bool {
	switch kind {
	case assetMediaPlaylist:
		return hlsKeyTag.Match(b)
	case assetMPD:
		return bytes.Contains(b, []byte("ContentProtection"))
	}
	return false
}

// renditionEncrypted reports whether a rendition's segments are encrypted,
// from its media playlist (an encrypting EXT-X-KEY), remembered: for good
// once encrypted (segments are written once, under new names), for
// VideoCacheTTL when clear (its first playlist may not be out yet).
//
// This is the seam for the transcoder's flag: once metadata says whether a
// video's renditions are encrypted, this reads the grant's video instead of
// the playlist.
func (s *Service) renditionEncrypted(ctx context.Context, id, rendition string) (bool, error) {
	if !renditionRe.MatchString(rendition) {
		return false, errNotFound
	}
	key := id + "/" + rendition
	now := s.cfg.Now()
	s.emu.Lock()
	e, ok := s.encryption[key]
	s.emu.Unlock()
	if ok && (e.until.IsZero() || now.Before(e.until)) {
		return e.encrypted, nil
	}
	b, _, err := s.readManifest(ctx, s.videoPrefix(id)+rendition+"/playlist.m3u8")
	if err != nil {
		return false, err
	}
	enc := encryptedManifest(assetMediaPlaylist, b)
	s.rememberEncryption(key, enc)
	return enc, nil
}

// videoEncrypted reports whether the grant's video is packaged encrypted:
// as metadata says once the transcode completed, else as its first media
// playlist says (an encoding video).
func (s *Service) videoEncrypted(ctx context.Context, g *grant, master []byte) (bool, error) {
	if g.video.GetEncrypted() {
		return true, nil
	}
	rels := masterPlaylists(master)
	if len(rels) == 0 {
		return false, nil
	}
	rendition, _, _ := strings.Cut(rels[0], "/")
	enc, err := s.renditionEncrypted(ctx, g.id, rendition)
	if errors.Is(err, errNotFound) {
		return false, nil // no segment of it yet
	}
	return enc, err
}

func (s *Service) rememberEncryption(key string, enc bool) {
	e := encryptionEntry{encrypted: true}
	if !enc {
		e = encryptionEntry{until: s.cfg.Now().Add(s.cfg.VideoCacheTTL)}
	}
	s.emu.Lock()
	defer s.emu.Unlock()
	if len(s.encryption) >= maxEncryptionEntries {
		clear(s.encryption) // each rendition then costs one playlist read again
	}
	s.encryption[key] = e
}

// mediaURI matches the URIs of init and media segments in manifests,
// DASH templates included, and the preview key's init segment.
var mediaURI = regexp.MustCompile(`(?:^|/)(?:init(?:-preview)?\.m4s|seg-[^/?#]*\.m4s)$`)

// manifestMapper maps the URIs of a manifest being served (rel: its path
// in the video directory). Every URI carries the token, except the
// segments of encrypted media: those are the same bytes for every viewer,
// fetched without a token (see authorizeKeyless) so that any cache can
// hold them, and the key URI keeps the token.
func (s *Service) manifestMapper(g *grant, kind assetKind, rel string, body []byte) uriMapper {
	m := tokenMapper("", g.token)
	if g.token == "" || !encryptedManifest(kind, body) {
		return m
	}
	if kind == assetMediaPlaylist {
		if rendition, _, ok := strings.Cut(rel, "/"); ok {
			s.rememberEncryption(g.id+"/"+rendition, true)
		}
	}
	return func(uri string) string {
		if mediaURI.MatchString(uri) {
			return uri
		}
		return m(uri)
	}
}
