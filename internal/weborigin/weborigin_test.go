package weborigin

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	good := []struct{ in, want string }{
		{"https://example.com", "https://example.com"},
		{"HTTPS://Example.COM", "https://example.com"},
		{"https://example.com/", "https://example.com"},
		{"https://example.com:443", "https://example.com"},
		{"http://example.com:80", "http://example.com"},
		{"http://example.com:443", "http://example.com:443"},
		{"https://example.com:8443", "https://example.com:8443"},
		{"https://example.com:08443", "https://example.com:8443"},
		{"http://127.0.0.1:5173", "http://127.0.0.1:5173"},
		{"http://[::1]:8080", "http://[::1]:8080"},
		{"https://xn--bcher-kva.example", "https://xn--bcher-kva.example"},
	}
	for _, c := range good {
		got, err := Normalize(c.in)
		if err != nil || got != c.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	bad := []string{
		"", "null", "example.com", "//example.com", "ftp://example.com", "javascript:alert(1)",
		"data:text/html,x", "file:///etc/passwd", "https://example.com/path", "https://example.com/embed/",
		"https://example.com?x=1", "https://example.com#f", "https://user@example.com",
		"https://*.example.com", "*", "https://exa mple.com", "https://", "https://example.com:",
		"https://example.com:0", "https://example.com:70000", "https://-bad.example", "https://a..b",
		"https://bücher.example", "https://example.com\\@evil.com", "https://" + strings.Repeat("a", 260) + ".com",
	}
	for _, in := range bad {
		if got, err := Normalize(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Normalize(%q) = %q, %v; want ErrInvalid", in, got, err)
		}
	}
}

func TestNormalizeList(t *testing.T) {
	got, err := NormalizeList([]string{"https://A.example", " https://a.example:443 ", "http://b.example:8080"})
	if err != nil || strings.Join(got, ",") != "https://a.example,http://b.example:8080" {
		t.Fatalf("NormalizeList = %q, %v", got, err)
	}
	if got, err := NormalizeList(nil); err != nil || len(got) != 0 {
		t.Fatalf("NormalizeList(nil) = %q, %v; want empty", got, err)
	}
	many := make([]string, MaxOrigins+1)
	for i := range many {
		many[i] = "https://a.example"
	}
	if _, err := NormalizeList(many); !errors.Is(err, ErrInvalid) {
		t.Fatalf("NormalizeList(%d entries) err = %v; want ErrInvalid", len(many), err)
	}
	if _, err := NormalizeList([]string{"https://ok.example", "https://bad.example/x"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a bad entry among good ones: err = %v; want ErrInvalid", err)
	}
}

func TestAllowed(t *testing.T) {
	list := []string{"https://site.example", "http://127.0.0.1:8081"}
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	cases := []struct {
		name string
		list []string
		h    http.Header
		want bool
	}{
		{"empty list allows any origin", nil, hdr("Origin", "https://evil.example"), true},
		{"listed origin", list, hdr("Origin", "https://site.example"), true},
		{"case and default port normalised", list, hdr("Origin", "HTTPS://Site.Example:443"), true},
		{"loopback with port", list, hdr("Origin", "http://127.0.0.1:8081"), true},
		{"same host, other port", list, hdr("Origin", "http://127.0.0.1:8082"), false},
		{"same host, other scheme", list, hdr("Origin", "http://site.example"), false},
		{"suffix is not a match", list, hdr("Origin", "https://evil-site.example"), false},
		{"subdomain is not a match", list, hdr("Origin", "https://a.site.example"), false},
		{"listed host as a prefix of another", list, hdr("Origin", "https://site.example.evil.example"), false},
		{"unlisted origin", list, hdr("Origin", "https://evil.example"), false},
		{"null origin (sandboxed frame)", list, hdr("Origin", "null"), false},
		{"malformed origin", list, hdr("Origin", "https://site.example/path"), false},
		{"Origin wins over a spoofed Referer", list, hdr("Origin", "https://evil.example", "Referer", "https://site.example/page"), false},
		{"a listed Origin is not undone by a Referer", list, hdr("Origin", "https://site.example", "Referer", "https://evil.example/"), true},
		{"Referer's origin without Origin", list, hdr("Referer", "https://site.example/watch?v=1"), true},
		{"unlisted Referer without Origin", list, hdr("Referer", "https://evil.example/site.example"), false},
		{"Referer with user info", list, hdr("Referer", "https://site.example@evil.example/"), false},
		{"garbage Referer", list, hdr("Referer", "not a url"), false},
		{"neither header: the token is the capability", list, hdr(), true},
		{"the platform's own page (same host as the request)", list, hdr("Referer", "http://gw.example:8080/embed/vid_1"), true},
		{"the platform's own page by Origin", list, hdr("Origin", "http://GW.example:8080"), true},
		{"the platform's host on another port", list, hdr("Origin", "http://gw.example:9090"), false},
		{"the platform's host as a suffix", list, hdr("Origin", "http://evil-gw.example:8080"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, origin := Allowed(c.list, c.h, "gw.example:8080"); got != c.want {
				t.Errorf("Allowed(%q, %v) = %v (origin %q); want %v", c.list, c.h, got, origin, c.want)
			}
		})
	}
}

func TestFrameAncestors(t *testing.T) {
	if got := FrameAncestors(nil); got != "*" {
		t.Errorf("FrameAncestors(nil) = %q; want *", got)
	}
	if got := FrameAncestors([]string{"https://a.example", "http://b.example:81"}); got != "'self' https://a.example http://b.example:81" {
		t.Errorf("FrameAncestors = %q", got)
	}
}
