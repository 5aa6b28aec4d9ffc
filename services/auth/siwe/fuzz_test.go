package siwe

import (
	"reflect"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Add(sampleMessage().String())
	f.Add("example.com wants you to sign in with your Ethereum account:\n0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\n\n\nURI: https://example.com\nVersion: 1\nChain ID: 1\nNonce: 12345678\nIssued At: 2026-11-28T12:00:00Z")
	f.Add(strings.SplitN(sample, "\nRequest ID", 2)[0])
	f.Add("")
	f.Add("\n\n\n\n")
	f.Add(strings.ReplaceAll(sample, "\n", "\r\n"))
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Parse(s)
		if err != nil {
			return
		}
		out := m.String()
		if out != s {
			t.Fatalf("String() differs from the parsed input:\n%q\n%q", out, s)
		}
		m2, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(m.String()) = %v", err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip: %+v != %+v", m, m2)
		}
	})
}
