package streaming

import (
	"strings"
	"testing"
)

func TestEncryptedManifest(t *testing.T) {
	for _, tt := range []struct {
		name string
		kind assetKind
		body string
		want bool
	}{
		{"cbcs", assetMediaPlaylist, "#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"../licence\",KEYFORMAT=\"org.w3.clearkey\"\nseg-00000.m4s\n", true},
		{"cenc", assetMediaPlaylist, "#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI=\"../licence\"\n", true},
		{"method after uri", assetMediaPlaylist, "#EXTM3U\n#EXT-X-KEY:URI=\"../licence\",METHOD=SAMPLE-AES\n", true},
		{"none", assetMediaPlaylist, "#EXTM3U\n#EXT-X-KEY:METHOD=NONE\nseg-00000.m4s\n", false},
		{"clear", assetMediaPlaylist, "#EXTM3U\n#EXT-X-MAP:URI=\"init.m4s\"\nseg-00000.m4s\n", false},
		{"a segment named like a tag", assetMediaPlaylist, "#EXTM3U\n# #EXT-X-KEY:METHOD=SAMPLE-AES\n", false},
		{"master never", assetMaster, "#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES\n", false},
		{"mpd", assetMPD, `<MPD><Period><AdaptationSet><ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cbcs"/>`, true},
		{"clear mpd", assetMPD, `<MPD><Period><AdaptationSet>`, false},
	} {
		if got := encryptedManifest(tt.kind, []byte(tt.body)); got != tt.want {
			t.Errorf("%s: encryptedManifest = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestParseLicenceRequest(t *testing.T) {
	kid := "8fHx8fHx8fHx8fHx8fHx8Q" // 16 bytes of 0xf1
	got, err := parseLicenceRequest(strings.NewReader(`{"kids":["` + kid + `","` + kid + `=="],"type":"temporary"}`))
	if err != nil || len(got) != 1 || len(got[0]) != 16 || got[0][0] != 0xf1 {
		t.Errorf("duplicate kids, padded and not: %x, %v; want one 16-byte kid", got, err)
	}
	for _, body := range []string{``, `null`, `{"kids":"x"}`, `{"kids":[""]}`, `{"kids":["` + kid + `x"]}`} {
		if _, err := parseLicenceRequest(strings.NewReader(body)); err == nil {
			t.Errorf("%q accepted", body)
		}
	}
}

func TestRewriteDASHLicenceURL(t *testing.T) {
	mpd := `<ContentProtection schemeIdUri="urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e" value="ClearKey1.0"><dashif:Laurl Lic_type="EME-1.0">licence</dashif:Laurl></ContentProtection>` +
		`<SegmentTemplate initialization="180p/init.m4s" media="180p/seg-$Number%05d$.m4s"/>`
	g := &grant{id: "vid_1", token: "t&k"}
	got := string(rewrite(assetMPD, []byte(mpd), (&Service{encryption: map[string]encryptionEntry{}}).manifestMapper(g, assetMPD, "manifest.mpd", []byte(mpd))))
	for _, want := range []string{`>licence?token=t%26k</dashif:Laurl>`, `initialization="180p/init.m4s"`, `media="180p/seg-$Number%05d$.m4s"`} {
		if !strings.Contains(got, want) {
			t.Errorf("rewritten MPD lacks %q:\n%s", want, got)
		}
	}
}

// An encrypted rendition with a preview has a second init segment under
// the preview key: it is served, as an init segment, and its URI in the
// media playlist carries no token, as the other segments' do not.
func TestPreviewInitSegment(t *testing.T) {
	if kind, ok := parseAsset("180p/init-preview.m4s"); !ok || kind != assetInit {
		t.Errorf("parseAsset(180p/init-preview.m4s) = %v, %v; want assetInit", kind, ok)
	}
	pl := "#EXTM3U\n" +
		`#EXT-X-KEY:METHOD=SAMPLE-AES,URI="../licence?scope=preview",KEYFORMAT="org.w3.clearkey",KEYID=0x01010101010101010101010101010101` + "\n" +
		"#EXT-X-MAP:URI=\"init-preview.m4s\"\n#EXTINF:4.000,\nseg-00000.m4s\n" +
		`#EXT-X-KEY:METHOD=SAMPLE-AES,URI="../licence",KEYFORMAT="org.w3.clearkey",KEYID=0x02020202020202020202020202020202` + "\n" +
		"#EXT-X-MAP:URI=\"init.m4s\"\n#EXTINF:4.000,\nseg-00001.m4s\n#EXT-X-ENDLIST\n"
	g := &grant{id: "vid_1", token: "tok"}
	got := string(rewrite(assetMediaPlaylist, []byte(pl), (&Service{encryption: map[string]encryptionEntry{}}).manifestMapper(g, assetMediaPlaylist, "180p/playlist.m3u8", []byte(pl))))
	for _, want := range []string{`URI="init-preview.m4s"`, `URI="init.m4s"`, "\nseg-00000.m4s\n", `licence?scope=preview&token=tok`} {
		if !strings.Contains(got, want) {
			t.Errorf("rewritten media playlist lacks %q:\n%s", want, got)
		}
	}
}
