// Package cenc encrypts the CMAF segments the packager writes with Common
// Encryption (ISO/IEC 23001-7), so one set of segments serves HLS and DASH
// players through EME and is useless without its key. FFmpeg's own
// encryption does not write the per-fragment sample auxiliary data
// (senc/saiz/saio) that fragmented output needs, so the packager writes
// clear segments and this package protects each one as it is published.
//
// Each protected init segment also carries a 'pssh' box of the W3C Common
// SystemID, naming the key id: browsers fire EME's "encrypted" event for
// pssh boxes only, and players that learn the key id from the media (hls.js
// with a ClearKey licence server) wait for that event to ask for the key.
//
// Both schemes of the standard are offered: "cenc" (AES-CTR, full-sample
// or subsample) and "cbcs" (AES-CBC with a 1:9 pattern and a constant IV,
// what Apple devices and most current players expect). Video samples keep
// their NAL unit headers in clear (subsample encryption), as the standard
// requires for AVC.
package cenc

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/Eyevinn/mp4ff/mp4"
)

// Scheme is a Common Encryption protection scheme.
type Scheme string

const (
	// CENC is AES-CTR ('cenc').
	CENC Scheme = "cenc"
	// CBCS is AES-CBC with pattern encryption and a constant IV ('cbcs').
	CBCS Scheme = "cbcs"
)

// CommonSystemID is the W3C Common PSSH box format's system id ("cenc"
// initialization data, EME), which ClearKey CDMs read key ids from.
const CommonSystemID = "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b"

// KeySize is the size of a content key and of a key id.
const KeySize = 16

// Key is a content key and its id, as players and licence servers name it.
type Key struct {
	ID  [KeySize]byte
	Key [KeySize]byte
}

// NewKey makes a random key and key id.
func NewKey() Key {
	var k Key
	_, _ = rand.Read(k.ID[:])  // crypto/rand.Read never fails
	_, _ = rand.Read(k.Key[:]) // crypto/rand.Read never fails
	return k
}

// IDHex is the key id in hex, as manifests write it inside a UUID.
func (k Key) IDHex() string { return hex.EncodeToString(k.ID[:]) }

// Track is the protection of one rendition (one track): what its init
// segment now declares and what encrypting its media segments needs.
type Track struct {
	scheme Scheme
	key    Key
	// track tells the IVs of renditions that share a key apart.
	track uint16
	// constIV is cbcs's constant IV, written in the init segment.
	constIV []byte
	ipd     *mp4.InitProtectData
}

// ProtectInit rewrites a clear CMAF init segment of one track into its
// protected form (an encv/enca sample entry with the scheme and the key
// id in sinf/schm/tenc, and a Common SystemID pssh with the key id) and
// returns it with the Track that encrypts its
// segments. track is a number unique among the renditions encrypted
// with key (their index in the ladder): CTR mode must never see an IV
// twice under one key.
func ProtectInit(init []byte, scheme Scheme, key Key, track uint16) ([]byte, *Track, error) {
	f, err := mp4.DecodeFile(bytes.NewReader(init))
	if err != nil {
		return nil, nil, fmt.Errorf("cenc: init segment: %w", err)
	}
	if f.Init == nil {
		return nil, nil, errors.New("cenc: not an init segment (no moov)")
	}
	t := &Track{scheme: scheme, key: key, track: track}
	var iv []byte
	switch scheme {
	case CENC:
		iv = t.segmentIV(0)
	case CBCS:
		// One constant IV per track, in tenc; derived so a restart of the
		// packager writes the same init segment.
		t.constIV = make([]byte, 16)
		copy(t.constIV, key.ID[:8])
		binary.BigEndian.PutUint16(t.constIV[14:], track)
		iv = t.constIV
	default:
		return nil, nil, fmt.Errorf("cenc: unknown scheme %q", scheme)
	}
	kid, err := mp4.NewUUIDFromString(key.IDHex())
	if err != nil {
		return nil, nil, err
	}
	// Version 1 with the key id and no data, as the W3C format defines.
	pssh, err := mp4.NewPsshBox(CommonSystemID, []string{key.IDHex()}, nil)
	if err != nil {
		return nil, nil, err
	}
	t.ipd, err = mp4.InitProtect(f.Init, key.Key[:], iv, string(scheme), kid, []*mp4.PsshBox{pssh})
	if err != nil {
		return nil, nil, fmt.Errorf("cenc: protect init segment: %w", err)
	}
	var out bytes.Buffer
	if err := f.Init.Encode(&out); err != nil {
		return nil, nil, err
	}
	return out.Bytes(), t, nil
}

// segmentIV is the first IV of media segment number seq (cenc): the track
// in the first two bytes, the segment number in the next four, and the
// per-sample block counter that EncryptFragment adds in the last ten, so
// no two samples of any rendition under one key share a counter block.
func (t *Track) segmentIV(seq uint32) []byte {
	iv := make([]byte, 16)
	binary.BigEndian.PutUint16(iv[0:], t.track)
	binary.BigEndian.PutUint32(iv[2:], seq)
	return iv
}

// EncryptSegment encrypts a clear CMAF media segment (number seq from 1,
// unique within the track) of this track.
func (t *Track) EncryptSegment(seg []byte, seq uint32) ([]byte, error) {
	f, err := mp4.DecodeFile(bytes.NewReader(seg))
	if err != nil {
		return nil, fmt.Errorf("cenc: media segment: %w", err)
	}
	if len(f.Segments) == 0 {
		return nil, errors.New("cenc: not a media segment (no moof)")
	}
	iv := t.constIV
	if t.scheme == CENC {
		iv = t.segmentIV(seq)
	}
	for _, s := range f.Segments {
		for _, frag := range s.Fragments {
			if err := mp4.EncryptFragment(frag, t.key.Key[:], iv, t.ipd); err != nil {
				return nil, fmt.Errorf("cenc: encrypt segment %d: %w", seq, err)
			}
			if t.scheme == CENC && len(s.Fragments) > 1 {
				return nil, errors.New("cenc: a segment of several fragments would reuse IVs")
			}
		}
		fixSidx(s)
	}
	var out bytes.Buffer
	out.Grow(len(seg) + 1024)
	if err := f.Encode(&out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// fixSidx keeps a segment index true: encryption grows each moof by its
// sample auxiliary data, so the sizes a sidx gives are stale. One
// reference per fragment is updated; any other index is dropped (the
// manifests address segments by template, not by index).
func fixSidx(s *mp4.MediaSegment) {
	if len(s.Sidxs) == 1 && len(s.Sidxs[0].SidxRefs) == len(s.Fragments) {
		for i, f := range s.Fragments {
			s.Sidxs[0].SidxRefs[i].ReferencedSize = uint32(f.Size())
		}
		return
	}
	s.Sidx, s.Sidxs = nil, nil
}
