package transcode

import (
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/streamgate/streamgate/internal/cenc"
	"github.com/streamgate/streamgate/internal/preview"
)

// listedSegment is a media segment as an FFmpeg media playlist lists it.
type listedSegment struct {
	// URI relative to the work dir, e.g. "r0/seg-00001.m4s".
	URI      string
	Duration time.Duration
}

// parseMediaPlaylist reads an FFmpeg media playlist: its segments in order,
// and whether it is final (#EXT-X-ENDLIST).
func parseMediaPlaylist(b []byte) (segs []listedSegment, ended bool) {
	var dur time.Duration
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "#EXTINF:"):
			v, _, _ := strings.Cut(strings.TrimPrefix(line, "#EXTINF:"), ",")
			f, err := strconv.ParseFloat(v, 64)
			if err == nil && f >= 0 {
				dur = time.Duration(f * float64(time.Second))
			}
		case line == "#EXT-X-ENDLIST":
			ended = true
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			segs = append(segs, listedSegment{URI: line, Duration: dur})
			dur = 0
		}
	}
	return segs, ended
}

// publishedSegment is a media segment in the blob store.
type publishedSegment struct {
	Name     string // file name within the rendition directory
	Duration time.Duration
	Size     int64
}

// playlistKeys is an encrypted rendition's key signalling: the first
// previewSegs segments under the preview key, the rest under the full key.
type playlistKeys struct {
	previewTag, fullTag string
	previewSegs         int
}

// renderMediaPlaylist writes our media playlist for one rendition: EVENT
// while encoding, VOD with ENDLIST when final. URIs are relative to the
// rendition directory, where the playlist lives. An encrypted rendition
// (keys set) has an EXT-X-KEY before each EXT-X-MAP, so it applies to that
// init segment and the segments after it: the preview key's with
// init-preview.m4s first when there is a preview, the full key's with
// init.m4s before the first segment past it. Streaming's preview cut keeps
// the tags with the segment they precede, so a cut playlist names the
// preview key only.
func renderMediaPlaylist(init string, segs []publishedSegment, segDur time.Duration, final bool, keys *playlistKeys) []byte {
	target := int(math.Ceil(segDur.Seconds()))
	for _, s := range segs {
		if r := int(math.Round(s.Duration.Seconds())); r > target {
			target = r
		}
	}
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n")
	fmt.Fprintf(&b, "#EXT-X-TARGETDURATION:%d\n", target)
	if final {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:VOD\n")
	} else {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:EVENT\n")
	}
	b.WriteString("#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	switch {
	case keys == nil:
		fmt.Fprintf(&b, "#EXT-X-MAP:URI=%q\n", init)
	case keys.previewSegs > 0:
		fmt.Fprintf(&b, "%s\n#EXT-X-MAP:URI=%q\n", keys.previewTag, previewInitName)
	default:
		fmt.Fprintf(&b, "%s\n#EXT-X-MAP:URI=%q\n", keys.fullTag, init)
	}
	for i, s := range segs {
		if keys != nil && keys.previewSegs > 0 && i == keys.previewSegs {
			fmt.Fprintf(&b, "%s\n#EXT-X-MAP:URI=%q\n", keys.fullTag, init)
		}
		fmt.Fprintf(&b, "#EXTINF:%.6f,\n%s\n", s.Duration.Seconds(), s.Name)
	}
	if final {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return []byte(b.String())
}

// variant is one rendition as the master playlist describes it.
type variant struct {
	Name          string
	Width, Height int
	FrameRate     float64
	Codec         string
	Bandwidth     int64
	AvgBandwidth  int64
	Playlist      string
	// Audio names the audio rendition played with a video variant.
	Audio string
}

// renderMaster writes the HLS master playlist: one STREAM-INF per video
// rendition, each referring to its audio rendition (its own group) as an
// alternative, or one STREAM-INF per audio rendition when there is no
// video.
func renderMaster(videos []variant, audios map[string]*variant, audioOrder []*variant) []byte {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	if len(videos) > 0 {
		for _, a := range audioOrder {
			fmt.Fprintf(&b, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=%q,NAME=%q,DEFAULT=YES,AUTOSELECT=YES,URI=%q\n", a.Name, a.Name, a.Playlist)
		}
	}
	for _, v := range videos {
		bw, avg, codecs := v.Bandwidth, v.AvgBandwidth, v.Codec
		a := audios[v.Audio]
		if a != nil {
			bw += a.Bandwidth
			avg += a.AvgBandwidth
			codecs += "," + a.Codec
		}
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,AVERAGE-BANDWIDTH=%d,RESOLUTION=%dx%d,CODECS=%q", bw, avg, v.Width, v.Height, codecs)
		if v.FrameRate > 0 {
			fmt.Fprintf(&b, ",FRAME-RATE=%.3f", v.FrameRate)
		}
		if a != nil {
			fmt.Fprintf(&b, ",AUDIO=%q", a.Name)
		}
		fmt.Fprintf(&b, "\n%s\n", v.Playlist)
	}
	if len(videos) == 0 {
		for _, a := range audioOrder {
			fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,AVERAGE-BANDWIDTH=%d,CODECS=%q\n%s\n", a.Bandwidth, a.AvgBandwidth, a.Codec, a.Playlist)
		}
	}
	return []byte(b.String())
}

type mpdXML struct {
	Periods []struct {
		AdaptationSets []struct {
			Representations []struct {
				ID     string `xml:"id,attr"`
				Codecs string `xml:"codecs,attr"`
			} `xml:"Representation"`
		} `xml:"AdaptationSet"`
	} `xml:"Period"`
}

// mpdCodecs returns the RFC 6381 codecs string of each representation id
// in an FFmpeg MPD.
func mpdCodecs(b []byte) (map[int]string, error) {
	var m mpdXML
	if err := xml.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	out := map[int]string{}
	for _, p := range m.Periods {
		for _, as := range p.AdaptationSets {
			for _, r := range as.Representations {
				id, err := strconv.Atoi(r.ID)
				if err == nil && r.Codecs != "" {
					out[id] = r.Codecs
				}
			}
		}
	}
	return out, nil
}

// rewriteMPD points each representation's SegmentTemplate at its rendition
// directory (names[id]) instead of FFmpeg's "r<id>/".
func rewriteMPD(b []byte, names map[int]string) ([]byte, error) {
	var out strings.Builder
	cur := -1
	for line := range strings.Lines(string(b)) {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "<Representation ") {
			_, rest, _ := strings.Cut(t, `id="`)
			idStr, _, _ := strings.Cut(rest, `"`)
			id, err := strconv.Atoi(idStr)
			if err != nil {
				return nil, fmt.Errorf("mpd: representation id %q", idStr)
			}
			cur = id
		}
		if strings.Contains(line, "r$RepresentationID$/") {
			name, ok := names[cur]
			if !ok {
				return nil, fmt.Errorf("mpd: no rendition for representation %d", cur)
			}
			line = strings.ReplaceAll(line, "r$RepresentationID$/", name+"/")
		}
		out.WriteString(line)
	}
	return []byte(out.String()), nil
}

// PublishedEntry is a media segment listed in a published media playlist.
type PublishedEntry struct {
	// Name is the file name within the rendition directory.
	Name string
	// Sequence is the media sequence number, from 1.
	Sequence uint32
	// Duration is the segment's media duration.
	Duration time.Duration
}

// PublishedInit is an init segment listed in a published media playlist.
type PublishedInit struct {
	// Name is the file name within the rendition directory.
	Name string
	// From is the sequence number of the first media segment it applies
	// to.
	From uint32
}

// ParsePublishedPlaylist reads a media playlist this package published: its
// init segments (two for an encrypted rendition with a preview: the
// preview key's, then the full key's), the media segments in order, and
// whether the playlist is final. Only what it lists is in the blob store,
// so a reader (a resuming watcher) can trust every entry.
func ParsePublishedPlaylist(b []byte) (inits []PublishedInit, segs []PublishedEntry, final bool) {
	var n uint32
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "#EXT-X-MAP:URI="); ok {
			if u, err := strconv.Unquote(v); err == nil {
				inits = append(inits, PublishedInit{Name: u, From: n + 1})
			}
			continue
		}
		if line != "" && !strings.HasPrefix(line, "#") {
			n++
		}
	}
	listed, ended := parseMediaPlaylist(b)
	for i, l := range listed {
		segs = append(segs, PublishedEntry{Name: l.URI, Sequence: uint32(i + 1), Duration: l.Duration})
	}
	return inits, segs, ended
}

// protectMPD adds the ContentProtection elements players need to every
// AdaptationSet (see integration/eme_test.go): the mp4protection one with
// the scheme and cenc:default_KID, and ClearKey's, without which shaka
// offers every key system but ClearKey.
func protectMPD(mpd []byte, scheme cenc.Scheme, key cenc.Key) ([]byte, error) {
	id := key.IDHex()
	uuid := id[0:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:32]
	cp := fmt.Sprintf(`<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="%s" cenc:default_KID="%s"/>`+
		`<ContentProtection schemeIdUri="urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e" value="ClearKey1.0"/>`, scheme, uuid)
	var out strings.Builder
	sets, root := 0, false
	for line := range strings.Lines(string(mpd)) {
		t := strings.TrimSpace(line)
		if !root && strings.HasPrefix(t, "<MPD ") {
			line = strings.Replace(line, "<MPD ", `<MPD xmlns:cenc="urn:mpeg:cenc:2013" `, 1)
			root = true
		}
		out.WriteString(line)
		if strings.HasPrefix(t, "<AdaptationSet ") {
			out.WriteString(cp + "\n")
			sets++
		}
	}
	if !root || sets == 0 {
		return nil, fmt.Errorf("mpd: no MPD element or AdaptationSet to protect")
	}
	return []byte(out.String()), nil
}

// fullInit is a SegmentTemplate's initialization naming a rendition's full
// key init segment, as rewriteMPD leaves it.
var fullInit = regexp.MustCompile(`\binitialization="([a-z0-9-]{1,32}/)` + regexp.QuoteMeta(initName) + `"`)

// previewMPD makes the MPD a preview viewer plays from the rewritten,
// clear MPD: the preview key signalled, each representation initialised
// by its preview init segment, and the presentation ending where the
// preview key's segments do (at or after until; preview.DASH cuts as
// streaming does), previewSegs of them, so the MPD names no segment its
// key cannot decrypt. A default_KID per AdaptationSet and one init per
// representation leave DASH no way to switch keys within a Period, hence a
// second MPD rather than a second key in the first.
func previewMPD(mpd []byte, scheme cenc.Scheme, key cenc.Key, until time.Duration, previewSegs int) ([]byte, error) {
	templates := strings.Count(string(mpd), "<SegmentTemplate")
	if n := len(fullInit.FindAll(mpd, -1)); n == 0 || n != templates {
		return nil, fmt.Errorf("mpd: %d of %d SegmentTemplates name %s", n, templates, initName)
	}
	b := fullInit.ReplaceAll(mpd, []byte(`initialization="${1}`+previewInitName+`"`))
	b, err := protectMPD(b, scheme, key)
	if err != nil {
		return nil, err
	}
	b, cut, err := preview.DASH(b, until)
	if err != nil {
		return nil, fmt.Errorf("mpd: %w", err)
	}
	if cut.Segments != previewSegs {
		return nil, fmt.Errorf("mpd: the preview MPD ends after %d segments, the preview key covers %d", cut.Segments, previewSegs)
	}
	return b, nil
}

var (
	periodBlock  = regexp.MustCompile(`(?s)<Period\b[^>]*>.*</Period>`)
	startNumber  = regexp.MustCompile(`\bstartNumber="1"`)
	tplTimescale = regexp.MustCompile(`\btimescale="([0-9]+)"`)
)

// keyPeriodsMPD makes the MPD every viewer but a preview one plays when
// the first previewSegs segments are under the preview key: a Period per
// key, since a Period has one init segment per representation and one
// default_KID per AdaptationSet. The first Period is the preview's (its
// init segments, its key), the second starts at the first full-key
// segment (startNumber and presentationTimeOffset where it is) with the
// full key's init segments. segDur is the segment length all share, total
// the segments of each; a preview key over all of them is one Period.
func keyPeriodsMPD(mpd []byte, scheme cenc.Scheme, full, pre cenc.Key, previewSegs, total int, segDur time.Duration) ([]byte, error) {
	if previewSegs <= 0 {
		return protectMPD(mpd, scheme, full)
	}
	templates := strings.Count(string(mpd), "<SegmentTemplate")
	if n := len(fullInit.FindAll(mpd, -1)); n == 0 || n != templates {
		return nil, fmt.Errorf("mpd: %d of %d SegmentTemplates name %s", n, templates, initName)
	}
	if n := len(startNumber.FindAll(mpd, -1)); n != templates {
		return nil, fmt.Errorf("mpd: %d of %d SegmentTemplates start at number 1", n, templates)
	}
	preMPD, err := protectMPD(fullInit.ReplaceAll(mpd, []byte(`initialization="${1}`+previewInitName+`"`)), scheme, pre)
	if err != nil {
		return nil, err
	}
	if previewSegs >= total {
		return preMPD, nil
	}
	fullMPD, err := protectMPD(mpd, scheme, full)
	if err != nil {
		return nil, err
	}
	prePeriod, fullPeriod := periodBlock.Find(preMPD), periodBlock.Find(fullMPD)
	if prePeriod == nil || fullPeriod == nil || len(periodBlock.FindAll(fullMPD, -1)) != 1 || strings.Count(string(fullPeriod), "<Period") != 1 {
		return nil, errors.New("mpd: not one Period")
	}
	split := time.Duration(previewSegs) * segDur
	at := preview.ISODuration(split)
	prePeriod = periodTagRe.ReplaceAll(prePeriod, []byte(`<Period id="preview" start="PT0S" duration="`+at+`">`))
	fullPeriod = periodTagRe.ReplaceAll(fullPeriod, []byte(`<Period id="full" start="`+at+`">`))
	var bad error
	fullPeriod = templateTagRe.ReplaceAllFunc(fullPeriod, func(tpl []byte) []byte {
		m := tplTimescale.FindSubmatch(tpl)
		if m == nil {
			bad = errors.New("mpd: a SegmentTemplate has no timescale")
			return tpl
		}
		scale, _ := strconv.ParseInt(string(m[1]), 10, 64)
		pto := int64(split.Seconds() * float64(scale))
		return startNumber.ReplaceAll(tpl, []byte(fmt.Sprintf(`startNumber="%d" presentationTimeOffset="%d"`, previewSegs+1, pto)))
	})
	if bad != nil {
		return nil, bad
	}
	loc := periodBlock.FindIndex(fullMPD)
	out := slices.Concat(fullMPD[:loc[0]], prePeriod, []byte("\n\t"), fullPeriod, fullMPD[loc[1]:])
	return out, nil
}

var (
	periodTagRe   = regexp.MustCompile(`<Period\b[^>]*>`)
	templateTagRe = regexp.MustCompile(`<SegmentTemplate\b[^>]*>`)
)
