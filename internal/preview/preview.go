// Package preview cuts a video's manifests to its free preview: a viewer
// without the pass gets a playlist that ends at the first segment boundary
// at or after the creator's preview length, so players stop there by
// themselves (HLS with #EXT-X-ENDLIST, DASH with a shorter presentation).
// The cut is what a non-holder is told; what they can fetch or decrypt is
// decided per segment with Segments.
package preview

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrNoPreview is returned for a preview length of zero or less: the
// video has no free part.
var ErrNoPreview = errors.New("preview: the video has no preview")

// Cut is where a preview ends.
type Cut struct {
	// Segments is how many media segments (from the first) the preview
	// holds: segment numbers 1..Segments are free.
	Segments int
	// End is the media time at which the preview ends: the end of its
	// last segment.
	End time.Duration
	// Whole is set when the preview reaches the end of the video.
	Whole bool
}

// HLS cuts an HLS media playlist (VOD, or EVENT while it grows) to the
// preview: the segments that start before want, then #EXT-X-ENDLIST once
// the cut is reached. A master playlist has no segments and comes back
// as it is. Tags between segments are kept with the segment they precede.
func HLS(playlist []byte, want time.Duration) ([]byte, Cut, error) {
	if want <= 0 {
		return nil, Cut{}, ErrNoPreview
	}
	var out strings.Builder
	out.Grow(len(playlist))
	var (
		cut      Cut
		start    time.Duration
		extinf   time.Duration
		pending  strings.Builder // tags of the segment being read
		done     bool
		ended    bool
		segments int
	)
	for line := range strings.Lines(string(playlist)) {
		t := strings.TrimSpace(line)
		switch {
		case t == "#EXT-X-ENDLIST":
			ended = true
			continue // written below, once
		case strings.HasPrefix(t, "#EXT-X-PLAYLIST-TYPE:"):
			continue // written below, as it is or VOD
		case strings.HasPrefix(t, "#EXTINF:"):
			v, _, _ := strings.Cut(strings.TrimPrefix(t, "#EXTINF:"), ",")
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
				return nil, Cut{}, fmt.Errorf("preview: bad #EXTINF %q", t)
			}
			extinf = time.Duration(f * float64(time.Second))
			pending.WriteString(line)
		case strings.HasPrefix(t, "#") || t == "":
			if segments == 0 && pending.Len() == 0 && !strings.HasPrefix(t, "#EXT-X-KEY") && !strings.HasPrefix(t, "#EXT-X-DISCONTINUITY") {
				out.WriteString(line) // the header
			} else {
				pending.WriteString(line)
			}
		default: // a segment URI
			segments++
			if done {
				pending.Reset()
				continue
			}
			if start >= want {
				done = true
				pending.Reset()
				continue
			}
			out.WriteString(pending.String())
			out.WriteString(line)
			pending.Reset()
			start += extinf
			cut.Segments++
			cut.End = start
		}
	}
	if segments == 0 {
		return playlist, Cut{}, nil // a master playlist
	}
	header := out.String()
	typ := "#EXT-X-PLAYLIST-TYPE:EVENT\n"
	if done || ended {
		typ = "#EXT-X-PLAYLIST-TYPE:VOD\n"
	}
	// The type tag goes after #EXT-X-VERSION or #EXTM3U, where it was.
	var b strings.Builder
	inserted := false
	for line := range strings.Lines(header) {
		b.WriteString(line)
		if !inserted && (strings.HasPrefix(line, "#EXT-X-VERSION") || strings.HasPrefix(line, "#EXTM3U") && !strings.Contains(header, "#EXT-X-VERSION")) {
			if !strings.HasSuffix(line, "\n") {
				b.WriteString("\n")
			}
			b.WriteString(typ)
			inserted = true
		}
	}
	if done || ended {
		if s := b.String(); !strings.HasSuffix(s, "\n") {
			b.WriteString("\n")
		}
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	cut.Whole = !done && ended
	return []byte(b.String()), cut, nil
}

var (
	mpdDuration = regexp.MustCompile(`\bmediaPresentationDuration="([^"]*)"`)
	mpdType     = regexp.MustCompile(`<MPD\b[^>]*\btype="([^"]*)"`)
	periodTag   = regexp.MustCompile(`<Period\b[^>]*>`)
	attrDur     = regexp.MustCompile(`\sduration="([^"]*)"`)
	templateTag = regexp.MustCompile(`<SegmentTemplate\b[^>]*>`)
	attrNum     = func(name string) *regexp.Regexp { return regexp.MustCompile(`\b` + name + `="([0-9]+)"`) }
	tplDuration = attrNum("duration")
	tplScale    = attrNum("timescale")
	tplStart    = attrNum("startNumber")
)

// DASH cuts a static MPD whose representations use a SegmentTemplate with
// a fixed segment duration (what the packager writes) to the preview: the
// presentation ends at the first segment boundary at or after want, so
// players request no segment past it. Other MPD forms (a SegmentTimeline,
// several Periods, a dynamic MPD) are refused rather than cut wrongly.
func DASH(mpd []byte, want time.Duration) ([]byte, Cut, error) {
	if want <= 0 {
		return nil, Cut{}, ErrNoPreview
	}
	s := string(mpd)
	if m := mpdType.FindStringSubmatch(s); m != nil && m[1] != "static" {
		return nil, Cut{}, fmt.Errorf("preview: MPD type %q; only a static MPD is cut", m[1])
	}
	if strings.Contains(s, "<SegmentTimeline") || strings.Contains(s, "<SegmentList") {
		return nil, Cut{}, errors.New("preview: only SegmentTemplate@duration MPDs are cut")
	}
	if n := len(periodTag.FindAllString(s, -1)); n != 1 {
		return nil, Cut{}, fmt.Errorf("preview: the MPD has %d periods; only one is cut", n)
	}
	m := mpdDuration.FindStringSubmatch(s)
	if m == nil {
		return nil, Cut{}, errors.New("preview: the MPD has no mediaPresentationDuration")
	}
	total, err := ParseISODuration(m[1])
	if err != nil {
		return nil, Cut{}, err
	}
	var seg time.Duration
	templates := templateTag.FindAllString(s, -1)
	if len(templates) == 0 {
		return nil, Cut{}, errors.New("preview: the MPD has no SegmentTemplate")
	}
	for _, tpl := range templates {
		d, sc := tplDuration.FindStringSubmatch(tpl), tplScale.FindStringSubmatch(tpl)
		if d == nil {
			return nil, Cut{}, errors.New("preview: a SegmentTemplate has no duration")
		}
		if st := tplStart.FindStringSubmatch(tpl); st != nil && st[1] != "1" {
			return nil, Cut{}, fmt.Errorf("preview: a SegmentTemplate starts at number %s, not 1", st[1])
		}
		dv, _ := strconv.ParseInt(d[1], 10, 64)
		scale := int64(1)
		if sc != nil {
			scale, _ = strconv.ParseInt(sc[1], 10, 64)
		}
		if dv <= 0 || scale <= 0 {
			return nil, Cut{}, fmt.Errorf("preview: SegmentTemplate duration %s timescale %d", d[1], scale)
		}
		this := time.Duration(float64(dv) / float64(scale) * float64(time.Second))
		if seg != 0 && this != seg {
			return nil, Cut{}, fmt.Errorf("preview: representations with segments of %s and %s; the cut needs one length", seg, this)
		}
		seg = this
	}
	n := int((want + seg - 1) / seg) // the first boundary at or after want
	end := time.Duration(n) * seg
	if end >= total {
		return mpd, Cut{Segments: int((total + seg - 1) / seg), End: total, Whole: true}, nil
	}
	out := mpdDuration.ReplaceAllString(s, `mediaPresentationDuration="`+ISODuration(end)+`"`)
	out = periodTag.ReplaceAllStringFunc(out, func(p string) string {
		if attrDur.MatchString(p) {
			return attrDur.ReplaceAllString(p, ` duration="`+ISODuration(end)+`"`)
		}
		return p
	})
	return []byte(out), Cut{Segments: n, End: end}, nil
}

var isoDuration = regexp.MustCompile(`^PT(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+(?:\.[0-9]+)?)S)?$`)

// ParseISODuration reads the xs:duration forms MPDs use (PT1H2M3.5S; no
// days, months or years).
func ParseISODuration(v string) (time.Duration, error) {
	m := isoDuration.FindStringSubmatch(v)
	if m == nil || v == "PT" {
		return 0, fmt.Errorf("preview: duration %q is not PT[nH][nM][n.nS]", v)
	}
	var d time.Duration
	if m[1] != "" {
		h, _ := strconv.ParseInt(m[1], 10, 64)
		d += time.Duration(h) * time.Hour
	}
	if m[2] != "" {
		mi, _ := strconv.ParseInt(m[2], 10, 64)
		d += time.Duration(mi) * time.Minute
	}
	if m[3] != "" {
		f, _ := strconv.ParseFloat(m[3], 64)
		d += time.Duration(f * float64(time.Second))
	}
	return d, nil
}

// ISODuration writes d as PT<seconds>S with millisecond precision.
func ISODuration(d time.Duration) string {
	return "PT" + strconv.FormatFloat(d.Round(time.Millisecond).Seconds(), 'f', -1, 64) + "S"
}

// Free reports whether media segment number n (from 1) lies in a preview
// of want over segments of seg: whether it starts before want. The key
// server and the media routes ask it for each request, so a segment past
// the cut is refused even when its URL is guessed.
func Free(n int, seg, want time.Duration) bool {
	if n < 1 || seg <= 0 || want <= 0 {
		return false
	}
	return time.Duration(n-1)*seg < want
}
