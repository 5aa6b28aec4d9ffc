package authtoken

import (
	"testing"
	"time"
)

// BenchmarkParseSession is the per-request cost of local token checks in
// the gateway and streaming (the JWKS is cached; no RPC).
func BenchmarkParseSession(b *testing.B) {
	k := mustKey(b)
	tok, err := Sign(k, sessionClaims(time.Now()))
	if err != nil {
		b.Fatal(err)
	}
	keys := lookupOf(k)
	opts := ParseOptions{Issuer: testIssuer}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseSession(tok, keys, opts); err != nil {
			b.Fatal(err)
		}
	}
}
