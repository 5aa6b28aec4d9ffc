package siwe

import (
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/crypto"
)

// BenchmarkVerify measures what SignIn does per message before touching
// the database: strict parse, field checks and EIP-191 recovery. The
// SigToPub sub-benchmark is the raw secp256k1 recovery on the same
// message, the floor for any verifier.
func BenchmarkVerify(b *testing.B) {
	key, err := crypto.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 12, 1, 0, 0, time.UTC)
	m := sampleMessage()
	m.Address = crypto.PubkeyToAddress(key.PublicKey)
	m.NotBefore = ""
	msg := m.String()
	sig, err := SignEIP191(msg, key)
	if err != nil {
		b.Fatal(err)
	}
	exp := Expectations{Domain: m.Domain, URI: m.URI, ChainIDs: []uint64{1337}, MaxAge: 5 * time.Minute, Skew: 30 * time.Second}

	b.Run("SigToPub", func(b *testing.B) {
		raw := append([]byte(nil), sig...)
		raw[64] -= 27
		hash := accounts.TextHash([]byte(msg))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := crypto.SigToPub(hash, raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ParseCheckRecover", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := Parse(msg)
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Check(exp, now); err != nil {
				b.Fatal(err)
			}
			addr, err := RecoverEIP191(msg, sig)
			if err != nil || addr != p.Address {
				b.Fatal(addr, err)
			}
		}
	})
	b.Run("Parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Parse(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
