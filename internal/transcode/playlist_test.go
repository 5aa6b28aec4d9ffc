package transcode

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/streamgate/streamgate/internal/cenc"
)

// rewrittenMPD is an FFmpeg MPD (4 s segments, 9.5 s) after rewriteMPD.
const rewrittenMPD = `<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static" mediaPresentationDuration="PT9.5S" maxSegmentDuration="PT4.0S" minBufferTime="PT8.0S">
	<Period id="0" start="PT0.0S">
		<AdaptationSet id="0" contentType="video" startWithSAP="1" segmentAlignment="true" bitstreamSwitching="true">
			<Representation id="0" mimeType="video/mp4" codecs="avc1.64000d" bandwidth="311880" width="320" height="240">
				<SegmentTemplate timescale="1000000" duration="4000000" initialization="240p/init.m4s" media="240p/seg-$Number%05d$.m4s" startNumber="1">
				</SegmentTemplate>
			</Representation>
		</AdaptationSet>
		<AdaptationSet id="1" contentType="audio" startWithSAP="1" segmentAlignment="true" bitstreamSwitching="true">
			<Representation id="1" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="69000" audioSamplingRate="48000">
				<SegmentTemplate timescale="1000000" duration="4000000" initialization="a64k/init.m4s" media="a64k/seg-$Number%05d$.m4s" startNumber="1">
				</SegmentTemplate>
			</Representation>
		</AdaptationSet>
	</Period>
</MPD>
`

func kidUUID(k cenc.Key) string {
	id := k.IDHex()
	return id[0:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:]
}

// The preview MPD signals the preview key, initialises every
// representation with its preview init segment and ends where the preview
// key's segments do; the media templates are untouched.
func TestPreviewMPD(t *testing.T) {
	full, pre := cenc.NewKey(), cenc.NewKey()
	for _, c := range []struct {
		until    time.Duration
		segs     int
		duration string
	}{
		{time.Second, 1, `mediaPresentationDuration="PT4S"`},
		{4 * time.Second, 1, `mediaPresentationDuration="PT4S"`},
		{5 * time.Second, 2, `mediaPresentationDuration="PT8S"`},
		{time.Hour, 3, `mediaPresentationDuration="PT9.5S"`}, // the whole video
	} {
		b, err := previewMPD([]byte(rewrittenMPD), cenc.CBCS, pre, c.until, c.segs)
		if err != nil {
			t.Fatalf("preview of %s: %v", c.until, err)
		}
		got := string(b)
		for _, want := range []string{
			c.duration,
			`<MPD xmlns:cenc="urn:mpeg:cenc:2013" `,
			`initialization="240p/init-preview.m4s" media="240p/seg-$Number%05d$.m4s"`,
			`initialization="a64k/init-preview.m4s" media="a64k/seg-$Number%05d$.m4s"`,
		} {
			if !strings.Contains(got, want) {
				t.Errorf("preview of %s lacks %q:\n%s", c.until, want, got)
			}
		}
		if n := strings.Count(got, `value="cbcs" cenc:default_KID="`+kidUUID(pre)+`"`); n != 2 {
			t.Errorf("preview of %s: %d AdaptationSets name the preview key, want 2:\n%s", c.until, n, got)
		}
		if strings.Contains(got, kidUUID(full)) || strings.Contains(got, `/init.m4s"`) {
			t.Errorf("preview of %s names the full key or its init segment:\n%s", c.until, got)
		}
	}
}

// A preview MPD that would disagree with the segments' keys is not made.
func TestPreviewMPDRefuses(t *testing.T) {
	pre := cenc.NewKey()
	for name, c := range map[string]struct {
		mpd   string
		until time.Duration
		segs  int
	}{
		"segment count differs":   {rewrittenMPD, 4 * time.Second, 2},
		"an init not rewritten":   {strings.Replace(rewrittenMPD, `initialization="a64k/init.m4s"`, `initialization="r1/init-1.m4s"`, 1), 4 * time.Second, 1},
		"no SegmentTemplate":      {strings.ReplaceAll(rewrittenMPD, "SegmentTemplate", "SegmentBase"), 4 * time.Second, 1},
		"not cut (a timeline)":    {strings.Replace(rewrittenMPD, "</SegmentTemplate>", "<SegmentTimeline/></SegmentTemplate>", 1), 4 * time.Second, 1},
		"no AdaptationSet to tag": {strings.ReplaceAll(rewrittenMPD, "<AdaptationSet ", "<Adaptation "), 4 * time.Second, 1},
	} {
		if b, err := previewMPD([]byte(c.mpd), cenc.CBCS, pre, c.until, c.segs); err == nil {
			t.Errorf("%s: made\n%s", name, b)
		}
	}
}

// The MPD of full viewers has a Period per key when the first segments
// are the preview's: the preview Period with its init segments and key,
// then the full one numbered and offset where the full key starts.
func TestKeyPeriodsMPD(t *testing.T) {
	full, pre := cenc.NewKey(), cenc.NewKey()
	const seg = 4 * time.Second
	parses := func(b []byte) {
		t.Helper()
		var doc struct {
			Periods []struct {
				ID string `xml:"id,attr"`
			} `xml:"Period"`
		}
		if err := xml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("not XML: %v\n%s", err, b)
		}
	}

	b, err := keyPeriodsMPD([]byte(rewrittenMPD), cenc.CBCS, full, pre, 1, 3, seg)
	if err != nil {
		t.Fatal(err)
	}
	parses(b)
	got := string(b)
	preAt, fullAt := strings.Index(got, `<Period id="preview" start="PT0S" duration="PT4S">`), strings.Index(got, `<Period id="full" start="PT4S">`)
	if preAt < 0 || fullAt < preAt || strings.Count(got, "<Period") != 2 {
		t.Fatalf("want a preview Period then a full one:\n%s", got)
	}
	first, second := got[preAt:fullAt], got[fullAt:]
	for _, want := range []string{`initialization="240p/init-preview.m4s"`, `initialization="a64k/init-preview.m4s"`, `startNumber="1"`, kidUUID(pre)} {
		if !strings.Contains(first, want) {
			t.Errorf("the preview Period lacks %q:\n%s", want, first)
		}
	}
	for _, want := range []string{`initialization="240p/init.m4s"`, `initialization="a64k/init.m4s"`, `startNumber="2" presentationTimeOffset="4000000"`, kidUUID(full)} {
		if !strings.Contains(second, want) {
			t.Errorf("the full Period lacks %q:\n%s", want, second)
		}
	}
	if strings.Contains(first, kidUUID(full)) || strings.Contains(second, kidUUID(pre)) || strings.Count(got, `xmlns:cenc=`) != 1 {
		t.Errorf("keys cross Periods, or the namespace is declared twice:\n%s", got)
	}

	// All segments under the preview key: one Period, the preview's.
	b, err = keyPeriodsMPD([]byte(rewrittenMPD), cenc.CBCS, full, pre, 3, 3, seg)
	if err != nil {
		t.Fatal(err)
	}
	parses(b)
	if got := string(b); strings.Count(got, "<Period") != 1 || !strings.Contains(got, kidUUID(pre)) || strings.Contains(got, kidUUID(full)) || strings.Contains(got, `/init.m4s"`) {
		t.Errorf("a preview over the whole video:\n%s", got)
	}
	// No preview: the full key alone.
	b, err = keyPeriodsMPD([]byte(rewrittenMPD), cenc.CBCS, full, pre, 0, 3, seg)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); strings.Count(got, "<Period") != 1 || !strings.Contains(got, kidUUID(full)) || strings.Contains(got, kidUUID(pre)) {
		t.Errorf("no preview:\n%s", got)
	}
	// A template that does not start at 1 cannot be split.
	if _, err := keyPeriodsMPD([]byte(strings.Replace(rewrittenMPD, `startNumber="1"`, `startNumber="5"`, 1)), cenc.CBCS, full, pre, 1, 3, seg); err == nil {
		t.Error("a template starting at 5 was split")
	}
}
