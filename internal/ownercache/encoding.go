package ownercache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Encoding, version 1: one version byte (1), one flags byte (bit 0:
// allowed), the block number as a uvarint, CheckedAt as a varint of Unix
// milliseconds, then the balance's decimal digits to the end.
const (
	version1    = 1
	flagAllowed = 1
)

// Encode returns the compact form of d stored in the cache.
func Encode(d Decision) []byte {
	b := make([]byte, 0, 2+2*binary.MaxVarintLen64+len(d.Balance))
	var flags byte
	if d.Allowed {
		flags |= flagAllowed
	}
	b = append(b, version1, flags)
	b = binary.AppendUvarint(b, d.BlockNumber)
	b = binary.AppendVarint(b, d.CheckedAt.UnixMilli())
	return append(b, d.Balance...)
}

// Decode reads what Encode wrote.
func Decode(b []byte) (Decision, error) {
	if len(b) < 2 {
		return Decision{}, errors.New("ownercache: value too short")
	}
	if b[0] != version1 {
		return Decision{}, fmt.Errorf("ownercache: unknown encoding version %d", b[0])
	}
	if b[1]&^flagAllowed != 0 {
		return Decision{}, fmt.Errorf("ownercache: unknown flags 0x%02x", b[1])
	}
	d := Decision{Allowed: b[1]&flagAllowed != 0}
	rest := b[2:]
	block, n := binary.Uvarint(rest)
	if n <= 0 {
		return Decision{}, errors.New("ownercache: bad block number")
	}
	rest = rest[n:]
	ms, n := binary.Varint(rest)
	if n <= 0 {
		return Decision{}, errors.New("ownercache: bad check time")
	}
	rest = rest[n:]
	for _, c := range rest {
		if c < '0' || c > '9' {
			return Decision{}, errors.New("ownercache: balance is not decimal")
		}
	}
	d.BlockNumber = block
	d.CheckedAt = time.UnixMilli(ms)
	d.Balance = string(rest)
	return d, nil
}
