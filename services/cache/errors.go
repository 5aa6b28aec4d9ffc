package cache

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/internal/rpcerr"
)

// Contract limits on names.
const (
	MaxNamespaceLen   = 64
	MaxKeyLen         = 512
	MaxContentTypeLen = 127
	MaxGetManyKeys    = 100
)

// Domain errors. errorTable maps them to codes; any other error comes
// from the backend and is answered with CodeUnavailable.
var (
	// ErrInvalid marks malformed input (InvalidArgument).
	ErrInvalid = errors.New("invalid argument")
	// ErrEntryTooLarge: the entry is over MaxEntryBytes (ResourceExhausted).
	ErrEntryTooLarge = errors.New("entry over the size limit")
	// ErrResponseTooLarge: GetMany hits over MaxResponseBytes
	// (ResourceExhausted).
	ErrResponseTooLarge = errors.New("response over the size limit")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// ValidateNamespace checks the contract's namespace syntax: 1 to 64
// characters of [a-z0-9._-].
func ValidateNamespace(ns string) error {
	if ns == "" || len(ns) > MaxNamespaceLen {
		return invalid("namespace must be 1 to %d characters, got %d", MaxNamespaceLen, len(ns))
	}
	for i := 0; i < len(ns); i++ {
		c := ns[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '.' && c != '_' && c != '-' {
			return invalid("namespace %q: character %q at %d is not one of [a-z0-9._-]", ns, c, i)
		}
	}
	return nil
}

// validateKey checks a key or key prefix: 1 to 512 bytes of UTF-8. what
// names the field in the error ("key", "key_prefix").
func validateKey(what, k string) error {
	if k == "" || len(k) > MaxKeyLen {
		return invalid("%s must be 1 to %d bytes, got %d", what, MaxKeyLen, len(k))
	}
	if !utf8.ValidString(k) {
		return invalid("%s is not valid UTF-8", what)
	}
	return nil
}

// ValidateKey checks the contract's key syntax: 1 to 512 bytes of UTF-8.
func ValidateKey(k string) error { return validateKey("key", k) }

func validateContentType(ct string) error {
	if len(ct) > MaxContentTypeLen {
		return invalid("content_type must be at most %d characters, got %d", MaxContentTypeLen, len(ct))
	}
	for i := 0; i < len(ct); i++ {
		if ct[i] < 0x20 || ct[i] > 0x7e {
			return invalid("content_type: byte 0x%02x at %d is not printable ASCII", ct[i], i)
		}
	}
	return nil
}

// errorTable maps the domain errors to Connect codes (see rpcerr.ToConnect).
// Any other error came from the backend: it is logged and answered with
// CodeUnavailable, which callers treat as a miss.
var errorTable = rpcerr.Table{
	{Err: ErrInvalid, Code: connect.CodeInvalidArgument},
	{Err: ErrEntryTooLarge, Code: connect.CodeResourceExhausted},
	{Err: ErrNamespaceFull, Code: connect.CodeResourceExhausted},
	{Err: ErrResponseTooLarge, Code: connect.CodeResourceExhausted},
	{Err: rpcerr.Otherwise, Code: connect.CodeUnavailable, Msg: "cache backend unavailable"},
}
