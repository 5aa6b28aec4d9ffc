package preview

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// vod is a published media playlist of n segments of seg, the last one
// last long (the packager's form).
func vod(n int, seg, last time.Duration, final bool) string {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n")
	if final {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:VOD\n")
	} else {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:EVENT\n")
	}
	b.WriteString("#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.m4s\"\n")
	for i := 1; i <= n; i++ {
		d := seg
		if i == n {
			d = last
		}
		fmt.Fprintf(&b, "#EXTINF:%.6f,\nseg-%05d.m4s\n", d.Seconds(), i)
	}
	if final {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return b.String()
}

func segmentsOf(p string) []string {
	var out []string
	for _, l := range strings.Split(p, "\n") {
		if strings.HasPrefix(l, "seg-") {
			out = append(out, l)
		}
	}
	return out
}

func TestHLSCutsAtTheFirstBoundaryAtOrAfterThePreview(t *testing.T) {
	const s = time.Second
	// 10 segments of 4 s, the last 2.5 s: 38.5 s.
	full := vod(10, 4*s, 2500*time.Millisecond, true)
	for _, c := range []struct {
		want     time.Duration
		segments int
		end      time.Duration
		whole    bool
	}{
		{1 * time.Millisecond, 1, 4 * s, false},
		{4 * s, 1, 4 * s, false},                             // on a boundary: that boundary
		{4*s + time.Millisecond, 2, 8 * s, false},            // just past: the next
		{10 * s, 3, 12 * s, false},                           // not a multiple of the segment length
		{36 * s, 9, 36 * s, false},                           // up to the short last segment
		{37 * s, 10, 38500 * time.Millisecond, true},         // into the last segment: all of it
		{10 * time.Hour, 10, 38500 * time.Millisecond, true}, // longer than the video
	} {
		out, cut, err := HLS([]byte(full), c.want)
		if err != nil {
			t.Fatalf("%s: %v", c.want, err)
		}
		if cut.Segments != c.segments || cut.End != c.end || cut.Whole != c.whole {
			t.Errorf("%s: cut %+v, want %d segments to %s (whole %v)", c.want, cut, c.segments, c.end, c.whole)
		}
		p := string(out)
		if got := segmentsOf(p); len(got) != c.segments || got[len(got)-1] != fmt.Sprintf("seg-%05d.m4s", c.segments) {
			t.Errorf("%s: playlist lists %v", c.want, got)
		}
		if strings.Count(p, "#EXT-X-ENDLIST") != 1 || !strings.HasSuffix(p, "#EXT-X-ENDLIST\n") || strings.Count(p, "#EXT-X-PLAYLIST-TYPE:VOD") != 1 {
			t.Errorf("%s: not one final VOD playlist:\n%s", c.want, p)
		}
		if !strings.Contains(p, `#EXT-X-MAP:URI="init.m4s"`) || !strings.HasPrefix(p, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-PLAYLIST-TYPE:VOD\n") {
			t.Errorf("%s: header lost:\n%s", c.want, p)
		}
		for i := c.segments + 1; i <= 10; i++ {
			if strings.Contains(p, fmt.Sprintf("seg-%05d", i)) {
				t.Errorf("%s: segment %d past the cut is listed", c.want, i)
			}
		}
	}
}

func TestHLSWhileEncoding(t *testing.T) {
	// 3 segments so far of a growing playlist; a 20 s preview is not
	// reached yet: the playlist stays an EVENT without ENDLIST.
	out, cut, err := HLS([]byte(vod(3, 4*time.Second, 4*time.Second, false)), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if p := string(out); strings.Contains(p, "ENDLIST") || !strings.Contains(p, "#EXT-X-PLAYLIST-TYPE:EVENT") || cut.Segments != 3 || cut.Whole {
		t.Errorf("cut %+v:\n%s", cut, p)
	}
	// Reached: it ends there although the video goes on.
	out, cut, err = HLS([]byte(vod(6, 4*time.Second, 4*time.Second, false)), 6*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if p := string(out); !strings.HasSuffix(p, "#EXT-X-ENDLIST\n") || cut.Segments != 2 || strings.Contains(p, "EVENT") {
		t.Errorf("cut %+v:\n%s", cut, p)
	}
}

func TestHLSRefusesNoPreviewAndBadInput(t *testing.T) {
	full := []byte(vod(3, 4*time.Second, 4*time.Second, true))
	for _, want := range []time.Duration{0, -time.Second} {
		if _, _, err := HLS(full, want); !errors.Is(err, ErrNoPreview) {
			t.Errorf("preview %s: err %v, want ErrNoPreview", want, err)
		}
	}
	for _, bad := range []string{"#EXTINF:abc,", "#EXTINF:-1,", "#EXTINF:NaN,", "#EXTINF:+Inf,"} {
		p := strings.Replace(string(full), "#EXTINF:4.000000,", bad, 1)
		if _, _, err := HLS([]byte(p), time.Second); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	master := "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/index.m3u8\n"
	if out, _, err := HLS([]byte(master+"\n"), time.Second); err != nil || !strings.Contains(string(out), "v/index.m3u8") {
		t.Errorf("master playlist: %v\n%s", err, out)
	}
}

const mpd = `<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static" mediaPresentationDuration="PT38.5S" maxSegmentDuration="PT4.0S" minBufferTime="PT4.0S">
	<Period id="0" start="PT0.0S">
		<AdaptationSet id="0" contentType="video">
			<Representation id="0" mimeType="video/mp4" codecs="avc1.64000d" bandwidth="311880" width="320" height="240">
				<SegmentTemplate timescale="1000000" duration="4000000" initialization="v/init.m4s" media="v/seg-$Number%05d$.m4s" startNumber="1">
				</SegmentTemplate>
			</Representation>
		</AdaptationSet>
		<AdaptationSet id="1" contentType="audio">
			<Representation id="1" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="69000">
				<SegmentTemplate timescale="1000000" duration="4000000" initialization="a/init.m4s" media="a/seg-$Number%05d$.m4s" startNumber="1">
				</SegmentTemplate>
			</Representation>
		</AdaptationSet>
	</Period>
</MPD>
`

func TestDASHCutsThePresentation(t *testing.T) {
	const s = time.Second
	for _, c := range []struct {
		want     time.Duration
		duration string
		segments int
		whole    bool
	}{
		{time.Millisecond, "PT4S", 1, false},
		{4 * s, "PT4S", 1, false},
		{10 * s, "PT12S", 3, false},
		{36 * s, "PT36S", 9, false},
		{37 * s, "PT38.5S", 10, true},
		{time.Hour, "PT38.5S", 10, true},
	} {
		out, cut, err := DASH([]byte(mpd), c.want)
		if err != nil {
			t.Fatalf("%s: %v", c.want, err)
		}
		if !strings.Contains(string(out), `mediaPresentationDuration="`+c.duration+`"`) || cut.Segments != c.segments || cut.Whole != c.whole {
			t.Errorf("%s: cut %+v, want %d segments, %s:\n%s", c.want, cut, c.segments, c.duration, out)
		}
		// HLS and DASH agree on the boundary.
		_, hcut, _ := HLS([]byte(vod(10, 4*s, 2500*time.Millisecond, true)), c.want)
		if hcut.Segments != cut.Segments {
			t.Errorf("%s: HLS cuts after %d segments, DASH after %d", c.want, hcut.Segments, cut.Segments)
		}
		for n := 1; n <= 10; n++ {
			if Free(n, 4*s, c.want) != (n <= cut.Segments) {
				t.Errorf("%s: Free(%d) = %v with %d free segments", c.want, n, !(n <= cut.Segments), cut.Segments)
			}
		}
	}
	withPeriod := strings.Replace(mpd, `<Period id="0" start="PT0.0S">`, `<Period id="0" start="PT0.0S" duration="PT38.5S">`, 1)
	out, _, err := DASH([]byte(withPeriod), 5*time.Second)
	if err != nil || !strings.Contains(string(out), `<Period id="0" start="PT0.0S" duration="PT8S">`) {
		t.Errorf("the Period's duration is not cut: %v\n%s", err, out)
	}
}

func TestDASHRefusesWhatItCannotCut(t *testing.T) {
	if _, _, err := DASH([]byte(mpd), 0); !errors.Is(err, ErrNoPreview) {
		t.Errorf("preview 0: %v", err)
	}
	for name, edit := range map[string][2]string{
		"dynamic":         {`type="static"`, `type="dynamic"`},
		"timeline":        {`</SegmentTemplate>`, `<SegmentTimeline><S d="4"/></SegmentTimeline></SegmentTemplate>`},
		"two periods":     {`</Period>`, `</Period><Period id="1"></Period>`},
		"no duration":     {`mediaPresentationDuration="PT38.5S"`, ``},
		"bad duration":    {`PT38.5S`, `P1DT1S`},
		"mixed segments":  {`duration="4000000" initialization="a/`, `duration="2000000" initialization="a/`},
		"template no dur": {`duration="4000000" initialization="a/`, `initialization="a/`},
		"start number 0":  {`startNumber="1">`, `startNumber="0">`},
	} {
		if _, _, err := DASH([]byte(strings.Replace(mpd, edit[0], edit[1], 1)), 5*time.Second); err == nil {
			t.Errorf("%s: cut", name)
		}
	}
}

func TestISODuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"PT38.5S": 38500 * time.Millisecond, "PT1H2M3S": time.Hour + 2*time.Minute + 3*time.Second, "PT2M": 2 * time.Minute, "PT0S": 0,
	} {
		if got, err := ParseISODuration(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "PT", "P1D", "38.5", "PT-1S", "PT1.S"} {
		if _, err := ParseISODuration(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if got := ISODuration(12 * time.Second); got != "PT12S" {
		t.Errorf("ISODuration(12s) = %s", got)
	}
}
