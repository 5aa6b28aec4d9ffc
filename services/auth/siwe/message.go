// Package siwe parses, builds and checks Sign-In with Ethereum messages
// (EIP-4361) and recovers the EIP-191 signer of a message.
//
// The parser is strict: it accepts exactly the EIP-4361 ABNF, with the
// address in its EIP-55 checksummed form, and a message it accepts prints
// back byte for byte (Parse(m.String()) equals m). Limits on the whole
// message and on each field bound the work a hostile client can cause.
package siwe

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// Limits on what Parse accepts. The grammar has no upper bounds; these keep
// a hostile message from costing more than a real one.
const (
	MaxMessageBytes   = 4096
	MaxDomainBytes    = 255
	MaxStatementBytes = 1024
	MaxURIBytes       = 1024
	MaxNonceBytes     = 64
	MinNonceBytes     = 8
	MaxRequestIDBytes = 256
	MaxResources      = 16
	MaxResourceBytes  = 1024
)

const (
	headerSuffix = " wants you to sign in with your Ethereum account:"
	// Version is the only message version EIP-4361 defines.
	Version = "1"
)

// ErrMalformed is wrapped by every Parse error.
var ErrMalformed = errors.New("malformed EIP-4361 message")

// Message is one EIP-4361 message. Times are kept as the RFC 3339 strings
// the message carries so that a parsed message prints back unchanged; the
// *Time methods return them parsed.
type Message struct {
	// Scheme is the optional URI scheme of the requesting origin ("https").
	Scheme string
	// Domain is the RFC 3986 authority requesting the signature.
	Domain string
	// Address is the signing account, EIP-55 checksummed.
	Address common.Address
	// Statement is the optional human-readable assertion; empty when absent.
	Statement string
	// URI is the RFC 3986 URI the subject of the signing refers to.
	URI string
	// Version is always "1".
	Version string
	// ChainID is the EIP-155 chain id.
	ChainID uint64
	// Nonce is at least 8 alphanumerics.
	Nonce string
	// IssuedAt is an RFC 3339 date-time.
	IssuedAt string
	// ExpirationTime is an optional RFC 3339 date-time.
	ExpirationTime string
	// NotBefore is an optional RFC 3339 date-time.
	NotBefore string
	// RequestID is optional.
	RequestID string
	// Resources are optional URIs; nil when absent.
	Resources []string
}

// String returns the message in its EIP-4361 text form.
func (m *Message) String() string {
	var b strings.Builder
	b.Grow(256 + len(m.Statement))
	if m.Scheme != "" {
		b.WriteString(m.Scheme)
		b.WriteString("://")
	}
	b.WriteString(m.Domain)
	b.WriteString(headerSuffix)
	b.WriteByte('\n')
	b.WriteString(m.Address.Hex())
	b.WriteString("\n\n")
	if m.Statement != "" {
		b.WriteString(m.Statement)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString("URI: " + m.URI + "\n")
	b.WriteString("Version: " + m.Version + "\n")
	b.WriteString("Chain ID: " + strconv.FormatUint(m.ChainID, 10) + "\n")
	b.WriteString("Nonce: " + m.Nonce + "\n")
	b.WriteString("Issued At: " + m.IssuedAt)
	if m.ExpirationTime != "" {
		b.WriteString("\nExpiration Time: " + m.ExpirationTime)
	}
	if m.NotBefore != "" {
		b.WriteString("\nNot Before: " + m.NotBefore)
	}
	if m.RequestID != "" {
		b.WriteString("\nRequest ID: " + m.RequestID)
	}
	if m.Resources != nil {
		b.WriteString("\nResources:")
		for _, r := range m.Resources {
			b.WriteString("\n- " + r)
		}
	}
	return b.String()
}

// IssuedAtTime returns IssuedAt parsed.
func (m *Message) IssuedAtTime() (time.Time, error) { return parseTime(m.IssuedAt) }

// ExpirationTimeValue returns ExpirationTime parsed; ok is false when absent.
func (m *Message) ExpirationTimeValue() (t time.Time, ok bool, err error) {
	if m.ExpirationTime == "" {
		return time.Time{}, false, nil
	}
	t, err = parseTime(m.ExpirationTime)
	return t, err == nil, err
}

// NotBeforeValue returns NotBefore parsed; ok is false when absent.
func (m *Message) NotBeforeValue() (t time.Time, ok bool, err error) {
	if m.NotBefore == "" {
		return time.Time{}, false, nil
	}
	t, err = parseTime(m.NotBefore)
	return t, err == nil, err
}

// FormatTime formats t the way Build writes times: RFC 3339 in UTC with
// millisecond precision at most.
func FormatTime(t time.Time) string {
	return t.UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)
}

// Validate checks every field against the grammar and the limits. Parse
// calls it; call it on a message built by hand before String.
func (m *Message) Validate() error {
	if err := m.validateFields(); err != nil {
		return err
	}
	if n := len(m.String()); n > MaxMessageBytes {
		return malformed("message is %d bytes, over the %d-byte limit", n, MaxMessageBytes)
	}
	return nil
}

func (m *Message) validateFields() error {
	if m.Scheme != "" {
		if err := checkScheme(m.Scheme); err != nil {
			return err
		}
	}
	if err := checkDomain(m.Domain); err != nil {
		return err
	}
	if m.Address == (common.Address{}) {
		return malformed("address is the zero address")
	}
	if err := checkStatement(m.Statement); err != nil {
		return err
	}
	if err := checkURI("URI", m.URI, MaxURIBytes); err != nil {
		return err
	}
	if m.Version != Version {
		return malformed("version must be %q", Version)
	}
	if err := checkNonce(m.Nonce); err != nil {
		return err
	}
	if _, err := parseTime(m.IssuedAt); err != nil {
		return malformed("issued-at: %v", err)
	}
	if m.ExpirationTime != "" {
		if _, err := parseTime(m.ExpirationTime); err != nil {
			return malformed("expiration-time: %v", err)
		}
	}
	if m.NotBefore != "" {
		if _, err := parseTime(m.NotBefore); err != nil {
			return malformed("not-before: %v", err)
		}
	}
	if m.RequestID != "" {
		if len(m.RequestID) > MaxRequestIDBytes {
			return malformed("request id longer than %d bytes", MaxRequestIDBytes)
		}
		for i := 0; i < len(m.RequestID); i++ {
			if !isPchar(m.RequestID[i]) {
				return malformed("request id has a character outside pchar")
			}
		}
	}
	if m.Resources != nil {
		if len(m.Resources) == 0 {
			return malformed("resources list is empty")
		}
		if len(m.Resources) > MaxResources {
			return malformed("more than %d resources", MaxResources)
		}
		for _, r := range m.Resources {
			if err := checkURI("resource", r, MaxResourceBytes); err != nil {
				return err
			}
		}
	}
	return nil
}

// Parse parses an EIP-4361 message strictly. Every error wraps ErrMalformed.
func Parse(s string) (*Message, error) {
	if len(s) > MaxMessageBytes {
		return nil, malformed("message is %d bytes, over the %d-byte limit", len(s), MaxMessageBytes)
	}
	if strings.IndexByte(s, '\r') >= 0 {
		return nil, malformed("lines must end with LF, not CRLF")
	}
	p := &lineParser{lines: strings.Split(s, "\n")}
	m := &Message{}

	head, ok := p.next()
	if !ok || !strings.HasSuffix(head, headerSuffix) {
		return nil, malformed("first line must be \"<domain>%s\"", headerSuffix)
	}
	origin := strings.TrimSuffix(head, headerSuffix)
	if scheme, domain, found := strings.Cut(origin, "://"); found {
		m.Scheme, m.Domain = scheme, domain
		if m.Scheme == "" {
			return nil, malformed("empty scheme")
		}
	} else {
		m.Domain = origin
	}

	addr, ok := p.next()
	if !ok {
		return nil, malformed("missing address line")
	}
	a, err := parseAddress(addr)
	if err != nil {
		return nil, err
	}
	m.Address = a

	if l, ok := p.next(); !ok || l != "" {
		return nil, malformed("address must be followed by an empty line")
	}
	l, ok := p.next()
	if !ok {
		return nil, malformed("message ends after the address")
	}
	if l != "" {
		if strings.HasPrefix(l, "URI: ") {
			return nil, malformed("an empty line must separate the address section from \"URI:\" (three line breaks when there is no statement)")
		}
		m.Statement = l
		if l2, ok := p.next(); !ok || l2 != "" {
			return nil, malformed("statement must be a single line followed by an empty line")
		}
	}

	if m.URI, err = p.field("URI: "); err != nil {
		return nil, err
	}
	if m.Version, err = p.field("Version: "); err != nil {
		return nil, err
	}
	chain, err := p.field("Chain ID: ")
	if err != nil {
		return nil, err
	}
	if m.ChainID, err = parseChainID(chain); err != nil {
		return nil, err
	}
	if m.Nonce, err = p.field("Nonce: "); err != nil {
		return nil, err
	}
	if m.IssuedAt, err = p.field("Issued At: "); err != nil {
		return nil, err
	}
	if v, ok := p.optional("Expiration Time: "); ok {
		if v == "" {
			return nil, malformed("empty expiration time")
		}
		m.ExpirationTime = v
	}
	if v, ok := p.optional("Not Before: "); ok {
		if v == "" {
			return nil, malformed("empty not-before")
		}
		m.NotBefore = v
	}
	if v, ok := p.optional("Request ID: "); ok {
		if v == "" {
			return nil, malformed("empty request id")
		}
		m.RequestID = v
	}
	if l, ok := p.peek(); ok && l == "Resources:" {
		p.next()
		m.Resources = []string{}
		for {
			l, ok := p.next()
			if !ok {
				break
			}
			r, found := strings.CutPrefix(l, "- ")
			if !found {
				return nil, malformed("resource lines must start with \"- \"")
			}
			if len(m.Resources) == MaxResources {
				return nil, malformed("more than %d resources", MaxResources)
			}
			m.Resources = append(m.Resources, r)
		}
	}
	if l, ok := p.next(); ok {
		return nil, malformed("unexpected line %q", truncate(l))
	}
	// The input is within MaxMessageBytes and prints back unchanged, so
	// the fields are all that is left to check.
	if err := m.validateFields(); err != nil {
		return nil, err
	}
	return m, nil
}

type lineParser struct {
	lines []string
	i     int
}

func (p *lineParser) next() (string, bool) {
	if p.i >= len(p.lines) {
		return "", false
	}
	p.i++
	return p.lines[p.i-1], true
}

func (p *lineParser) peek() (string, bool) {
	if p.i >= len(p.lines) {
		return "", false
	}
	return p.lines[p.i], true
}

func (p *lineParser) field(prefix string) (string, error) {
	l, ok := p.next()
	if !ok {
		return "", malformed("missing %q line", strings.TrimSuffix(prefix, " "))
	}
	v, found := strings.CutPrefix(l, prefix)
	if !found {
		return "", malformed("expected a %q line, got %q", strings.TrimSuffix(prefix, " "), truncate(l))
	}
	return v, nil
}

func (p *lineParser) optional(prefix string) (string, bool) {
	l, ok := p.peek()
	if !ok {
		return "", false
	}
	v, found := strings.CutPrefix(l, prefix)
	if !found {
		return "", false
	}
	p.i++
	return v, true
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// parseAddress accepts only the EIP-55 checksummed form, as EIP-4361
// requires: an all-lowercase address is refused too.
func parseAddress(s string) (common.Address, error) {
	if len(s) != 42 || !strings.HasPrefix(s, "0x") {
		return common.Address{}, malformed("address must be 0x followed by 40 hex digits")
	}
	for i := 2; i < len(s); i++ {
		if !isHex(s[i]) {
			return common.Address{}, malformed("address must be 0x followed by 40 hex digits")
		}
	}
	a := common.HexToAddress(s)
	if a.Hex() != s {
		return common.Address{}, malformed("address is not in its EIP-55 checksummed form")
	}
	return a, nil
}

func parseChainID(s string) (uint64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, malformed("chain id must be a decimal number without leading zeros")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, malformed("chain id must be a decimal number")
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, malformed("chain id out of range")
	}
	return v, nil
}

func parseTime(s string) (time.Time, error) {
	if !isRFC3339(s) {
		return time.Time{}, errors.New("not an RFC 3339 date-time")
	}
	t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
	if err != nil {
		return time.Time{}, errors.New("not an RFC 3339 date-time")
	}
	return t, nil
}

// isRFC3339 checks the RFC 3339 date-time grammar exactly:
// YYYY-MM-DD "T" hh:mm:ss [ "." 1*DIGIT ] ( "Z" / ("+" / "-") hh:mm ),
// with T and Z in either case. Go's parser alone is more lenient.
func isRFC3339(s string) bool {
	const head = "dddd-dd-ddTdd:dd:dd"
	if len(s) < len(head)+1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(head); i++ {
		c := s[i]
		switch head[i] {
		case 'd':
			if !isDigit(c) {
				return false
			}
		case 'T':
			if c != 'T' && c != 't' {
				return false
			}
		default:
			if c != head[i] {
				return false
			}
		}
	}
	rest := s[len(head):]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && isDigit(rest[n]) {
			n++
		}
		if n == 1 {
			return false
		}
		rest = rest[n:]
	}
	if rest == "Z" || rest == "z" {
		return true
	}
	if len(rest) != 6 || (rest[0] != '+' && rest[0] != '-') || rest[3] != ':' {
		return false
	}
	return isDigit(rest[1]) && isDigit(rest[2]) && isDigit(rest[4]) && isDigit(rest[5])
}

func checkScheme(s string) error {
	if len(s) > 32 {
		return malformed("scheme too long")
	}
	if !isAlpha(s[0]) {
		return malformed("scheme must start with a letter")
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !isDigit(c) && c != '+' && c != '-' && c != '.' {
			return malformed("scheme has an invalid character")
		}
	}
	return nil
}

func checkDomain(s string) error {
	if s == "" {
		return malformed("empty domain")
	}
	if len(s) > MaxDomainBytes {
		return malformed("domain longer than %d bytes", MaxDomainBytes)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isUnreserved(c) && !isSubDelim(c) && c != ':' && c != '@' && c != '[' && c != ']' && c != '%' {
			return malformed("domain has a character not allowed in an RFC 3986 authority")
		}
	}
	return nil
}

func checkStatement(s string) error {
	if len(s) > MaxStatementBytes {
		return malformed("statement longer than %d bytes", MaxStatementBytes)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isUnreserved(c) && !isSubDelim(c) && !isGenDelim(c) && c != ' ' {
			return malformed("statement has a character outside reserved / unreserved / space")
		}
	}
	return nil
}

func checkURI(name, s string, max int) error {
	if s == "" {
		return malformed("empty %s", name)
	}
	if len(s) > max {
		return malformed("%s longer than %d bytes", name, max)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isUnreserved(c) && !isSubDelim(c) && !isGenDelim(c) && c != '%' {
			return malformed("%s has a character not allowed in an RFC 3986 URI", name)
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return malformed("%s is not an absolute RFC 3986 URI", name)
	}
	return nil
}

func checkNonce(s string) error {
	if len(s) < MinNonceBytes || len(s) > MaxNonceBytes {
		return malformed("nonce must be %d to %d alphanumerics", MinNonceBytes, MaxNonceBytes)
	}
	for i := 0; i < len(s); i++ {
		if !isAlpha(s[i]) && !isDigit(s[i]) {
			return malformed("nonce must be alphanumeric")
		}
	}
	return nil
}

func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') }
func isUnreserved(c byte) bool {
	return isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~'
}
func isSubDelim(c byte) bool { return strings.IndexByte("!$&'()*+,;=", c) >= 0 }
func isGenDelim(c byte) bool { return strings.IndexByte(":/?#[]@", c) >= 0 }
func isPchar(c byte) bool {
	return isUnreserved(c) || isSubDelim(c) || c == ':' || c == '@' || c == '%'
}

// CheckStatement reports whether s is a valid statement: one line of
// reserved, unreserved and space characters, within MaxStatementBytes.
func CheckStatement(s string) error { return checkStatement(s) }
