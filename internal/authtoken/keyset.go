package authtoken

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
)

// KeySet is a set of public verification keys by kid. The zero value is
// empty; a KeySet is immutable once built, so it is safe to share.
type KeySet struct {
	keys map[string]ed25519.PublicKey
}

// NewKeySet builds a key set from JWKS entries. Entries of key types this
// package does not verify (anything but OKP/Ed25519/EdDSA) are skipped; a
// malformed Ed25519 entry is an error.
func NewKeySet(jwks []*authv1.JsonWebKey) (*KeySet, error) {
	ks := &KeySet{keys: make(map[string]ed25519.PublicKey, len(jwks))}
	for _, k := range jwks {
		if k.GetKty() != "OKP" || k.GetCrv() != "Ed25519" || (k.GetAlg() != "" && k.GetAlg() != Algorithm) {
			continue
		}
		if k.GetUse() != "" && k.GetUse() != "sig" {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(k.GetX())
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("authtoken: JWK %q: x is not a base64url Ed25519 public key", k.GetKid())
		}
		if k.GetKid() == "" {
			return nil, fmt.Errorf("authtoken: JWK without kid")
		}
		ks.keys[k.GetKid()] = ed25519.PublicKey(x)
	}
	return ks, nil
}

// Lookup returns the key for kid.
func (ks *KeySet) Lookup(kid string) (ed25519.PublicKey, bool) {
	if ks == nil {
		return nil, false
	}
	k, ok := ks.keys[kid]
	return k, ok
}

// Len is the number of keys.
func (ks *KeySet) Len() int {
	if ks == nil {
		return 0
	}
	return len(ks.keys)
}

// JWK returns the public JWK of an Ed25519 key (RFC 8037).
func JWK(kid string, pub ed25519.PublicKey) *authv1.JsonWebKey {
	return &authv1.JsonWebKey{
		Kid: kid,
		Kty: "OKP",
		Crv: "Ed25519",
		Alg: Algorithm,
		Use: "sig",
		X:   base64.RawURLEncoding.EncodeToString(pub),
	}
}
