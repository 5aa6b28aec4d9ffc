package siwe

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Reasons a well-formed message is refused. Each Check error wraps one.
var (
	ErrDomain      = errors.New("domain does not match")
	ErrScheme      = errors.New("scheme does not match")
	ErrURI         = errors.New("URI does not match")
	ErrChain       = errors.New("chain id not allowed")
	ErrExpired     = errors.New("message has expired")
	ErrNotYetValid = errors.New("message is not valid yet")
	ErrIssuedAt    = errors.New("issued-at is out of range")
	ErrSignature   = errors.New("signature does not match the address")
)

// Expectations are what a verifier requires of a message's fields.
type Expectations struct {
	// Domain the message must name exactly.
	Domain string
	// URI the message must carry exactly. Its scheme is the scheme the
	// message must name; a message without a scheme is taken as "https",
	// as EIP-4361 says.
	URI string
	// ChainIDs allowed.
	ChainIDs []uint64
	// MaxAge bounds how far issued-at may lie in the past.
	MaxAge time.Duration
	// Skew is the clock skew tolerated for issued-at in the future,
	// expiration and not-before.
	Skew time.Duration
}

// Check verifies the message's fields against e at time now. It does not
// look at the nonce (the caller owns nonce state) or the signature.
func (m *Message) Check(e Expectations, now time.Time) error {
	if m.Domain != e.Domain {
		return fmt.Errorf("%w: got %q, want %q", ErrDomain, m.Domain, e.Domain)
	}
	want, err := url.Parse(e.URI)
	if err != nil || want.Scheme == "" {
		return fmt.Errorf("siwe: configured URI %q is not absolute", e.URI)
	}
	scheme := m.Scheme
	if scheme == "" {
		scheme = "https"
	}
	if scheme != want.Scheme {
		return fmt.Errorf("%w: got %q, want %q", ErrScheme, scheme, want.Scheme)
	}
	if m.URI != e.URI {
		return fmt.Errorf("%w: got %q, want %q", ErrURI, m.URI, e.URI)
	}
	if !slices.Contains(e.ChainIDs, m.ChainID) {
		return fmt.Errorf("%w: %d", ErrChain, m.ChainID)
	}
	issued, err := m.IssuedAtTime()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if issued.After(now.Add(e.Skew)) {
		return fmt.Errorf("%w: issued-at %s is in the future", ErrIssuedAt, m.IssuedAt)
	}
	if e.MaxAge > 0 && now.Sub(issued) > e.MaxAge {
		return fmt.Errorf("%w: issued-at %s is older than %s", ErrIssuedAt, m.IssuedAt, e.MaxAge)
	}
	if exp, ok, err := m.ExpirationTimeValue(); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	} else if ok && !now.Before(exp.Add(e.Skew)) {
		return fmt.Errorf("%w: expiration time %s", ErrExpired, m.ExpirationTime)
	}
	if nbf, ok, err := m.NotBeforeValue(); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	} else if ok && now.Add(e.Skew).Before(nbf) {
		return fmt.Errorf("%w: not before %s", ErrNotYetValid, m.NotBefore)
	}
	return nil
}

// SignatureLength is the length of an EIP-191 signature: r, s, v.
const SignatureLength = 65

// RecoverEIP191 returns the address that signed text with personal_sign
// (EIP-191 version 0x45). V may be 0, 1, 27 or 28.
func RecoverEIP191(text string, sig []byte) (common.Address, error) {
	pub, err := recoverPub(accounts.TextHash([]byte(text)), sig)
	if err != nil {
		return common.Address{}, err
	}
	return crypto.PubkeyToAddress(*pub), nil
}

func recoverPub(hash []byte, sig []byte) (*ecdsa.PublicKey, error) {
	if len(sig) != SignatureLength {
		return nil, fmt.Errorf("%w: EIP-191 signature is %d bytes, want %d", ErrSignature, len(sig), SignatureLength)
	}
	var s [SignatureLength]byte
	copy(s[:], sig)
	switch s[64] {
	case 27, 28:
		s[64] -= 27
	case 0, 1:
	default:
		return nil, fmt.Errorf("%w: recovery id v=%d is not 0, 1, 27 or 28", ErrSignature, sig[64])
	}
	pub, err := crypto.SigToPub(hash, s[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	return pub, nil
}

// SignEIP191 signs text with personal_sign semantics (v = 27 or 28), as a
// wallet would. For tests, tools and the dev wallet.
func SignEIP191(text string, key *ecdsa.PrivateKey) ([]byte, error) {
	sig, err := crypto.Sign(accounts.TextHash([]byte(text)), key)
	if err != nil {
		return nil, err
	}
	sig[64] += 27
	return sig, nil
}
