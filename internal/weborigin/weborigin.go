// Package weborigin is the one rule for a video's allowed origins: how a
// creator's list is validated and normalised (metadata), and how a request's
// origin is checked against it (the gateway's /play/ path, streaming, the
// embed page's frame-ancestors).
package weborigin

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Limits of a list, from the contract (Video.allowed_origins).
const (
	MaxOrigins = 32
	MaxLength  = 253
)

// RefusedHeader marks streaming's answer to a request whose origin is
// refused; the gateway's edge removes it, and the CORS headers with it.
const RefusedHeader = "Streamgate-Origin-Refused"

// ErrInvalid is wrapped by every refusal of a list entry.
var ErrInvalid = errors.New("invalid origin")

// Normalize checks that s is a web origin, "scheme://host[:port]" with
// scheme http or https, and returns it as a browser serialises it in the
// Origin header: lowercase, no default port, no trailing slash. Paths,
// queries, fragments, user info, wildcards and the opaque origin "null"
// are refused: the list names exact origins only.
func Normalize(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalid)
	}
	if len(s) > MaxLength {
		return "", fmt.Errorf("%w: longer than %d characters", ErrInvalid, MaxLength)
	}
	if strings.ContainsAny(s, "*?#@\\ \t\r\n") {
		return "", fmt.Errorf("%w: %q must be scheme://host[:port] with no wildcard, query, fragment or user info", ErrInvalid, s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrInvalid, s, err)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", fmt.Errorf("%w: %q: the scheme must be http or https", ErrInvalid, s)
	}
	if u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("%w: %q must be scheme://host[:port]", ErrInvalid, s)
	}
	// One trailing slash is tolerated (people paste "https://a.example/");
	// any other path is not an origin.
	if u.Path != "" && u.Path != "/" {
		return "", fmt.Errorf("%w: %q has a path; an origin is scheme://host[:port]", ErrInvalid, s)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", fmt.Errorf("%w: %q has no host", ErrInvalid, s)
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6 literal
	} else if !validHost(host) {
		return "", fmt.Errorf("%w: %q: host %q is not a DNS name or an IP address", ErrInvalid, s, host)
	}
	port := u.Port()
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%w: %q: bad port", ErrInvalid, s)
		}
		port = strconv.Itoa(n)
		if (scheme == "https" && n == 443) || (scheme == "http" && n == 80) {
			port = ""
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return "", fmt.Errorf("%w: %q: empty port", ErrInvalid, s)
	}
	out := scheme + "://" + host
	if port != "" {
		out += ":" + port
	}
	return out, nil
}

// validHost accepts a DNS name of letters, digits, hyphens and dots (IDNs
// in their xn-- form, as browsers send them) or an IPv4 address.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if len(h) > 253 || strings.HasPrefix(h, ".") || strings.HasSuffix(h, ".") || strings.Contains(h, "..") {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// NormalizeList normalises every entry, drops duplicates (keeping the first
// position) and bounds the count. nil or empty means any origin.
func NormalizeList(list []string) ([]string, error) {
	if len(list) > MaxOrigins {
		return nil, fmt.Errorf("%w: at most %d allowed origins, got %d", ErrInvalid, MaxOrigins, len(list))
	}
	var out []string
	seen := map[string]bool{}
	for _, o := range list {
		n, err := Normalize(strings.TrimSpace(o))
		if err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

// OfRequest is the origin a browser request comes from: its Origin header,
// else the origin of its Referer. Origin wins, since a page cannot set it
// while a Referer is only a hint (and may be stripped or trimmed by the
// page's referrer policy). present is false when the request names neither
// (a native player, curl, the CLI); an Origin of "null" (a sandboxed
// frame, a file: page) is present and matches no list.
func OfRequest(h http.Header) (origin string, present bool) {
	if o := h.Get("Origin"); o != "" {
		if o == "null" {
			return "null", true
		}
		n, err := Normalize(o)
		if err != nil {
			return o, true // present, and matching no list
		}
		return n, true
	}
	ref := h.Get("Referer")
	if ref == "" {
		return "", false
	}
	u, err := url.Parse(ref)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ref, true
	}
	n, err := Normalize(u.Scheme + "://" + u.Host)
	if err != nil {
		return u.Scheme + "://" + u.Host, true
	}
	return n, true
}

// Allowed reports whether a request with these headers may play a video
// whose allowed origins are list (normalised). An empty list allows any
// origin; a request naming no origin is allowed whatever the list, because
// the playback token, not the page, is the capability (a native app or the
// CLI sends neither header). self is the host[:port] the request was sent
// to (its Host): a page of the platform itself (the watch page, the embed
// page inside a creator's frame) names that host and is always allowed,
// whichever scheme a proxy in front terminates. origin is what the request
// named, for the refusal's message.
func Allowed(list []string, h http.Header, self string) (ok bool, origin string) {
	if len(list) == 0 {
		return true, ""
	}
	origin, present := OfRequest(h)
	if !present {
		return true, ""
	}
	for _, o := range list {
		if o == origin {
			return true, origin
		}
	}
	if self != "" {
		if _, host, ok := strings.Cut(origin, "://"); ok && host == normalizeHost(self) {
			return true, origin
		}
	}
	return false, origin
}

// normalizeHost lowercases a Host header and drops a default port, as
// Normalize does for an origin's host (which port is default depends on
// the scheme, which a Host does not carry; both are dropped).
func normalizeHost(h string) string {
	h = strings.ToLower(h)
	if strings.HasSuffix(h, ":443") || strings.HasSuffix(h, ":80") {
		h = h[:strings.LastIndexByte(h, ':')]
	}
	return h
}

// RefusalMessage is the body of a 403 for an origin not on the list.
func RefusalMessage(origin string) string {
	if len(origin) > 100 {
		origin = origin[:100] + "..."
	}
	return fmt.Sprintf("origin %q may not play this video: its creator allows only listed origins\n", origin)
}

// FrameAncestors is the CSP frame-ancestors source list for a video's
// allowed origins: "*" when any origin may embed it.
func FrameAncestors(list []string) string {
	if len(list) == 0 {
		return "*"
	}
	return "'self' " + strings.Join(list, " ")
}
