package streaming

import (
	"net/url"
	"regexp"
	"strings"
)

// uriMapper turns a URI found in a manifest into the URI to serve.
type uriMapper func(uri string) string

// tokenMapper returns a mapper resolving URIs against base (empty: keep
// them relative) and appending the token, if any, as ?token=.
func tokenMapper(base, token string) uriMapper {
	return func(uri string) string {
		if uri == "" || strings.HasPrefix(uri, "data:") {
			return uri
		}
		out := uri
		if base != "" && !isAbsoluteURI(uri) {
			out = base + uri
		}
		if token == "" {
			return out
		}
		frag := ""
		if i := strings.IndexByte(out, '#'); i >= 0 {
			out, frag = out[:i], out[i:]
		}
		sep := "?"
		if strings.Contains(out, "?") {
			sep = "&"
		}
		return out + sep + "token=" + url.QueryEscape(token) + frag
	}
}

func isAbsoluteURI(u string) bool {
	return strings.HasPrefix(u, "/") || strings.Contains(u, "://")
}

var hlsURIAttr = regexp.MustCompile(`URI="([^"]*)"`)

// rewriteHLS maps every URI of an HLS playlist: URI lines and the URI="..."
// attributes of tags (EXT-X-MAP, EXT-X-MEDIA, EXT-X-KEY,
// EXT-X-I-FRAME-STREAM-INF...).
func rewriteHLS(b []byte, m uriMapper) []byte {
	var out strings.Builder
	out.Grow(len(b) + 256)
	for line := range strings.Lines(string(b)) {
		body := strings.TrimRight(line, "\r\n")
		eol := line[len(body):]
		t := strings.TrimSpace(body)
		switch {
		case t == "":
		case strings.HasPrefix(t, "#"):
			if strings.HasPrefix(t, "#EXT") {
				body = hlsURIAttr.ReplaceAllStringFunc(body, func(a string) string {
					return `URI="` + m(a[len(`URI="`):len(a)-1]) + `"`
				})
			}
		default:
			body = m(t)
		}
		out.WriteString(body)
		out.WriteString(eol)
	}
	return []byte(out.String())
}

var (
	dashURIAttr = regexp.MustCompile(`\b(initialization|media|sourceURL|index)="([^"]*)"`)
	dashBaseURL = regexp.MustCompile(`(<BaseURL[^>]*>)([^<]*)(</BaseURL>)`)
	// dashLaurl is a ContentProtection's licence URL (dashif:Laurl, or
	// clearkey:Laurl of older players), which needs the token too.
	dashLaurl = regexp.MustCompile(`(<(?:[A-Za-z][\w-]*:)?Laurl\b[^>]*>)([^<]*)(</(?:[A-Za-z][\w-]*:)?Laurl>)`)
)

// rewriteDASH maps the URIs of an MPD: SegmentTemplate / Initialization /
// SegmentURL attributes, BaseURL elements and ContentProtection licence
// URLs (Laurl). URIs are XML-escaped (& becomes &amp;).
func rewriteDASH(b []byte, m uriMapper) []byte {
	xm := func(u string) string { return xmlAttrEscape(m(xmlUnescape(u))) }
	s := dashURIAttr.ReplaceAllStringFunc(string(b), func(a string) string {
		sm := dashURIAttr.FindStringSubmatch(a)
		return sm[1] + `="` + xm(sm[2]) + `"`
	})
	s = dashBaseURL.ReplaceAllStringFunc(s, func(a string) string {
		sm := dashBaseURL.FindStringSubmatch(a)
		return sm[1] + xm(strings.TrimSpace(sm[2])) + sm[3]
	})
	s = dashLaurl.ReplaceAllStringFunc(s, func(a string) string {
		sm := dashLaurl.FindStringSubmatch(a)
		return sm[1] + xm(strings.TrimSpace(sm[2])) + sm[3]
	})
	return []byte(s)
}

var xmlUnescaper = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&apos;", "'")
var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

func xmlUnescape(s string) string   { return xmlUnescaper.Replace(s) }
func xmlAttrEscape(s string) string { return xmlEscaper.Replace(s) }

// rewriteVTT maps the image URIs of a WebVTT storyboard (cue payload lines
// "storyboard.jpg#xywh=...").
func rewriteVTT(b []byte, m uriMapper) []byte {
	var out strings.Builder
	out.Grow(len(b) + 1024)
	prevTiming := false
	for line := range strings.Lines(string(b)) {
		body := strings.TrimRight(line, "\r\n")
		eol := line[len(body):]
		t := strings.TrimSpace(body)
		if prevTiming && t != "" && !strings.Contains(t, " ") {
			body = m(t)
		}
		prevTiming = strings.Contains(t, "-->")
		out.WriteString(body)
		out.WriteString(eol)
	}
	return []byte(out.String())
}

// rewrite maps the URIs of a manifest of the given kind.
func rewrite(kind assetKind, b []byte, m uriMapper) []byte {
	switch kind {
	case assetMaster, assetMediaPlaylist:
		return rewriteHLS(b, m)
	case assetMPD:
		return rewriteDASH(b, m)
	case assetStoryboardVTT:
		return rewriteVTT(b, m)
	}
	return b
}
