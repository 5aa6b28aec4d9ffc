package siwe

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

const sample = `https://example.com wants you to sign in with your Ethereum account:
0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed

Sign in to StreamGate.

URI: https://example.com/login
Version: 1
Chain ID: 1337
Nonce: abcDEF0123456789
Issued At: 2026-11-28T12:00:00Z
Expiration Time: 2026-11-28T12:05:00.5Z
Not Before: 2026-11-28T11:59:00+01:00
Request ID: req-1:@x
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json`

func sampleMessage() *Message {
	return &Message{
		Scheme:         "https",
		Domain:         "example.com",
		Address:        common.HexToAddress("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
		Statement:      "Sign in to StreamGate.",
		URI:            "https://example.com/login",
		Version:        "1",
		ChainID:        1337,
		Nonce:          "abcDEF0123456789",
		IssuedAt:       "2026-11-28T12:00:00Z",
		ExpirationTime: "2026-11-28T12:05:00.5Z",
		NotBefore:      "2026-11-28T11:59:00+01:00",
		RequestID:      "req-1:@x",
		Resources: []string{
			"ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/",
			"https://example.com/my-web2-claim.json",
		},
	}
}

func TestParseFull(t *testing.T) {
	m, err := Parse(sample)
	if err != nil {
		t.Fatal(err)
	}
	if want := sampleMessage(); !reflect.DeepEqual(m, want) {
		t.Fatalf("Parse = %+v\nwant %+v", m, want)
	}
	if got := m.String(); got != sample {
		t.Fatalf("String() =\n%s\nwant\n%s", got, sample)
	}
}

func TestParseMinimal(t *testing.T) {
	const minimal = "example.com wants you to sign in with your Ethereum account:\n" +
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\n\n\n" +
		"URI: https://example.com\nVersion: 1\nChain ID: 1\nNonce: 12345678\nIssued At: 2026-11-28T12:00:00Z"
	m, err := Parse(minimal)
	if err != nil {
		t.Fatal(err)
	}
	if m.Scheme != "" || m.Statement != "" || m.Resources != nil || m.ExpirationTime != "" {
		t.Errorf("optional fields set: %+v", m)
	}
	if m.String() != minimal {
		t.Errorf("round trip:\n%q\nwant\n%q", m.String(), minimal)
	}
}

func TestParseRejects(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(sample, old) {
			t.Fatalf("sample lacks %q", old)
		}
		return strings.Replace(sample, old, new, 1)
	}
	tests := map[string]string{
		"empty":                    "",
		"header only":              "example.com wants you to sign in with your Ethereum account:",
		"bad header":               replace("wants you to sign in", "wants you to log in"),
		"empty scheme":             replace("https://example.com wants", "://example.com wants"),
		"empty domain":             replace("https://example.com wants", "https:// wants"),
		"domain with space":        replace("https://example.com wants", "https://exa mple.com wants"),
		"domain with slash":        replace("https://example.com wants", "https://example.com/x wants"),
		"lowercase address":        replace("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"),
		"bad checksum":             replace("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
		"short address":            replace("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA"),
		"address without 0x":       replace("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00"),
		"non-hex address":          replace("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeZ"),
		"missing blank line":       replace("BeAed\n\nSign", "BeAed\nSign"),
		"two-line statement":       replace("Sign in to StreamGate.", "Sign in\nto StreamGate."),
		"statement with quote":     replace("Sign in to StreamGate.", "Sign \"in\""),
		"statement over limit":     replace("Sign in to StreamGate.", strings.Repeat("a", MaxStatementBytes+1)),
		"no blank after statement": replace("StreamGate.\n\nURI", "StreamGate.\nURI"),
		"missing URI":              replace("URI: https://example.com/login\n", ""),
		"relative URI":             replace("URI: https://example.com/login", "URI: /login"),
		"URI with space":           replace("URI: https://example.com/login", "URI: https://example.com/lo gin"),
		"URI over limit":           replace("URI: https://example.com/login", "URI: https://example.com/"+strings.Repeat("a", MaxURIBytes)),
		"version 2":                replace("Version: 1", "Version: 2"),
		"missing version":          replace("Version: 1\n", ""),
		"chain id not a number":    replace("Chain ID: 1337", "Chain ID: 0x539"),
		"chain id leading zero":    replace("Chain ID: 1337", "Chain ID: 01337"),
		"chain id overflow":        replace("Chain ID: 1337", "Chain ID: 99999999999999999999999"),
		"empty chain id":           replace("Chain ID: 1337", "Chain ID: "),
		"short nonce":              replace("Nonce: abcDEF0123456789", "Nonce: abc"),
		"nonce with dash":          replace("Nonce: abcDEF0123456789", "Nonce: abcDEF-123456789"),
		"nonce over limit":         replace("Nonce: abcDEF0123456789", "Nonce: "+strings.Repeat("a", MaxNonceBytes+1)),
		"bad issued at":            replace("Issued At: 2026-11-28T12:00:00Z", "Issued At: yesterday"),
		"issued at without zone":   replace("Issued At: 2026-11-28T12:00:00Z", "Issued At: 2026-11-28T12:00:00"),
		"missing issued at":        replace("Issued At: 2026-11-28T12:00:00Z\n", ""),
		"bad expiration":           replace("Expiration Time: 2026-11-28T12:05:00.5Z", "Expiration Time: soon"),
		"fields out of order":      replace("Nonce: abcDEF0123456789\nIssued At: 2026-11-28T12:00:00Z", "Issued At: 2026-11-28T12:00:00Z\nNonce: abcDEF0123456789"),
		"unknown field":            replace("Request ID: req-1:@x", "Foo: bar"),
		"empty request id":         replace("Request ID: req-1:@x", "Request ID: "),
		"request id with space":    replace("Request ID: req-1:@x", "Request ID: a b"),
		"resource without dash":    replace("- https://example.com/my-web2-claim.json", "https://example.com/my-web2-claim.json"),
		"empty resources":          strings.SplitN(sample, "\nResources:", 2)[0] + "\nResources:",
		"trailing newline":         sample + "\n",
		"crlf":                     strings.ReplaceAll(sample, "\n", "\r\n"),
		"over 4 KiB":               sample + strings.Repeat("\n- https://example.com/x", 200),
		"too many resources":       sample + strings.Repeat("\n- https://e.com/x", MaxResources),
		"spruce no-statement form": "example.com wants you to sign in with your Ethereum account:\n0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\n\nURI: https://example.com\nVersion: 1\nChain ID: 1\nNonce: 12345678\nIssued At: 2026-11-28T12:00:00Z",
	}
	for name, msg := range tests {
		t.Run(name, func(t *testing.T) {
			m, err := Parse(msg)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse = %+v, %v; want ErrMalformed", m, err)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 1, 0, 0, time.UTC)
	exp := Expectations{Domain: "example.com", URI: "https://example.com/login", ChainIDs: []uint64{1, 1337}, MaxAge: 5 * time.Minute, Skew: 30 * time.Second}
	base := func() *Message { m := sampleMessage(); m.NotBefore = ""; return m }
	tests := []struct {
		name   string
		mutate func(*Message)
		now    time.Time
		want   error
	}{
		{name: "ok", mutate: func(*Message) {}},
		{name: "no scheme means https", mutate: func(m *Message) { m.Scheme = "" }},
		{name: "wrong domain", mutate: func(m *Message) { m.Domain = "evil.com" }, want: ErrDomain},
		{name: "wrong scheme", mutate: func(m *Message) { m.Scheme = "http" }, want: ErrScheme},
		{name: "wrong URI", mutate: func(m *Message) { m.URI = "https://example.com/other" }, want: ErrURI},
		{name: "chain not allowed", mutate: func(m *Message) { m.ChainID = 5 }, want: ErrChain},
		{name: "expired", mutate: func(m *Message) { m.ExpirationTime = "2026-11-28T12:00:30Z" }, want: ErrExpired},
		{name: "not yet valid", mutate: func(m *Message) { m.NotBefore = "2026-11-28T12:03:00Z" }, want: ErrNotYetValid},
		{name: "issued in the future", mutate: func(m *Message) { m.IssuedAt = "2026-11-28T12:02:00Z" }, want: ErrIssuedAt},
		{name: "issued too long ago", mutate: func(m *Message) { m.IssuedAt = "2026-11-28T11:50:00Z"; m.ExpirationTime = "" }, want: ErrIssuedAt},
		{name: "within skew", mutate: func(m *Message) { m.IssuedAt = "2026-11-28T12:01:20Z" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base()
			tt.mutate(m)
			at := now
			if !tt.now.IsZero() {
				at = tt.now
			}
			err := m.Check(exp, at)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRecoverEIP191(t *testing.T) {
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	addr := crypto.PubkeyToAddress(key.PublicKey)
	sig, err := SignEIP191(sample, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []byte{sig[64], sig[64] - 27} {
		s := append([]byte(nil), sig...)
		s[64] = v
		got, err := RecoverEIP191(sample, s)
		if err != nil || got != addr {
			t.Errorf("v=%d: RecoverEIP191 = %s, %v; want %s", v, got, err, addr)
		}
	}
	if got, err := RecoverEIP191(sample+" ", sig); err == nil && got == addr {
		t.Error("a signature over another message recovered the signer")
	}
	bad := append([]byte(nil), sig...)
	bad[64] = 29
	if _, err := RecoverEIP191(sample, bad); !errors.Is(err, ErrSignature) {
		t.Errorf("v=29: err = %v, want ErrSignature", err)
	}
	if _, err := RecoverEIP191(sample, sig[:64]); !errors.Is(err, ErrSignature) {
		t.Errorf("64 bytes: err = %v, want ErrSignature", err)
	}
}
