package transcode

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/streamgate/streamgate/internal/cenc"
	"github.com/streamgate/streamgate/internal/preview"
)

// Encryption asks a job to publish its segments encrypted. Every
// rendition, audio included, is under one key at a time: hls.js asks a
// ClearKey licence server for the first key it meets only.
type Encryption struct {
	// Scheme is the Common Encryption scheme; cenc.CBCS is what every
	// player we serve (Apple's included) plays.
	Scheme cenc.Scheme
	// Full encrypts every segment past the preview.
	Full cenc.Key
	// Preview encrypts the media segments that start before PreviewUntil
	// (preview.Free over the configured segment duration, as streaming
	// cuts). Unused when PreviewUntil is 0.
	Preview      cenc.Key
	PreviewUntil time.Duration
}

// Init segment names in a rendition directory: the full key's keeps the
// clear packaging's name, so players and the watch stream of a video
// without a preview see no difference.
const (
	initName        = "init.m4s"
	previewInitName = "init-preview.m4s"
)

// PreviewMPDName is the MPD of the preview key's segments, published
// beside manifest.mpd when an encrypted job has a preview: streaming
// serves it, cut, to preview viewers asking for manifest.mpd.
const PreviewMPDName = "manifest-preview.mpd"

// The EXT-X-KEY URIs of an encrypted media playlist, relative to it: the
// video's key route (/play/<video>/licence), which streaming's manifest
// rewriting tokenises. One URI per key for every rendition: hls.js makes
// one key session per URI, and a second key needs a session of its own.
const (
	LicenceURI        = "../licence"
	PreviewLicenceURI = "../licence?scope=preview"
)

func (e *Encryption) validate() error {
	switch e.Scheme {
	case cenc.CBCS, cenc.CENC:
	default:
		return fmt.Errorf("encryption scheme %q", e.Scheme)
	}
	if e.PreviewUntil < 0 {
		return errors.New("negative preview length")
	}
	if e.PreviewUntil > 0 && e.Preview.ID == e.Full.ID {
		return errors.New("the preview and full keys have one id")
	}
	return nil
}

// rendKeys is one rendition's protection under each key.
type rendKeys struct {
	full, preview *cenc.Track
}

// protectInit writes the rendition's protected init segments (the preview
// one first when there is a preview) from FFmpeg's clear one at local,
// returning their names and contents.
func (p *publisher) protectInit(id int, local string) (names []string, inits [][]byte, err error) {
	enc := p.job.Encryption
	clear, err := os.ReadFile(filepath.Join(p.dir, filepath.FromSlash(local)))
	if err != nil {
		return nil, nil, fmt.Errorf("transcode: %w", err)
	}
	// The track number keeps the renditions' IVs apart under one key.
	track := uint16(id + 1)
	k := &rendKeys{}
	if enc.PreviewUntil > 0 {
		b, tr, err := cenc.ProtectInit(clear, enc.Scheme, enc.Preview, track)
		if err != nil {
			return nil, nil, fmt.Errorf("transcode: %w", err)
		}
		k.preview = tr
		names, inits = append(names, previewInitName), append(inits, b)
	}
	b, tr, err := cenc.ProtectInit(clear, enc.Scheme, enc.Full, track)
	if err != nil {
		return nil, nil, fmt.Errorf("transcode: %w", err)
	}
	k.full = tr
	names, inits = append(names, initName), append(inits, b)
	p.keys[id] = k
	return names, inits, nil
}

// inPreview reports whether media segment seq (from 1) is under the
// preview key.
func (p *publisher) inPreview(seq int) bool {
	enc := p.job.Encryption
	return enc != nil && enc.PreviewUntil > 0 && preview.Free(seq, p.t.cfg.SegmentDuration, enc.PreviewUntil)
}

// previewSegments is how many media segments of each rendition are under
// the preview key (every rendition has the same count: the split is by
// segment number).
func (p *publisher) previewSegments() int {
	n := 0
	if len(p.rends) > 0 {
		for n < len(p.rends[0].segs) && p.inPreview(n+1) {
			n++
		}
	}
	return n
}

// encryptSegment encrypts FFmpeg's clear media segment at local, number
// seq of rendition id, under the key its start falls in.
func (p *publisher) encryptSegment(id, seq int, local string) ([]byte, cenc.Key, error) {
	clear, err := os.ReadFile(filepath.Join(p.dir, filepath.FromSlash(local)))
	if err != nil {
		return nil, cenc.Key{}, fmt.Errorf("transcode: %w", err)
	}
	k := p.keys[id]
	tr, key := k.full, p.job.Encryption.Full
	if p.inPreview(seq) {
		tr, key = k.preview, p.job.Encryption.Preview
	}
	b, err := tr.EncryptSegment(clear, uint32(seq))
	if err != nil {
		return nil, cenc.Key{}, fmt.Errorf("transcode: %w", err)
	}
	return b, key, nil
}

// keyTag is the EXT-X-KEY naming key, with ClearKey's KEYFORMAT and the
// key id, which hls.js matches against the CDM's key statuses.
func keyTag(scheme cenc.Scheme, key cenc.Key, uri string) string {
	method := "SAMPLE-AES-CTR"
	if scheme == cenc.CBCS {
		method = "SAMPLE-AES"
	}
	return fmt.Sprintf(`#EXT-X-KEY:METHOD=%s,URI=%q,KEYFORMAT="org.w3.clearkey",KEYFORMATVERSIONS="1",KEYID=0x%s`,
		method, uri, key.IDHex())
}
