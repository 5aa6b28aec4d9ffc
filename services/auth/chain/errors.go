package chain

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/rpc"
	"github.com/sony/gobreaker/v2"
)

var (
	// ErrUnknownChain is returned for a chain id that is not configured.
	ErrUnknownChain = errors.New("chain: unknown chain id")
	// ErrUnavailable is returned when a chain's RPC endpoint cannot be
	// reached, times out, or its circuit breaker is open. Callers that make
	// access decisions must fail closed on it.
	ErrUnavailable = errors.New("chain: unavailable")
	// ErrReverted is returned when the node executed a call and the contract
	// reverted (or the node refused the call with a JSON-RPC error).
	ErrReverted = errors.New("chain: call reverted")
	// ErrBadResponse is returned when a contract answered with output that
	// does not decode as the expected type: typically no code at the
	// address, or a contract of another kind.
	ErrBadResponse = errors.New("chain: unexpected contract response")
)

// Error carries the chain id and operation of a failed chain call; it
// unwraps to one of the sentinel errors above and to the cause.
type Error struct {
	ChainID uint64
	Op      string
	Kind    error // one of the sentinels
	Cause   error
}

func (e *Error) Error() string {
	if e.Cause == nil {
		return fmt.Sprintf("%v (chain %d, %s)", e.Kind, e.ChainID, e.Op)
	}
	return fmt.Sprintf("%v (chain %d, %s): %v", e.Kind, e.ChainID, e.Op, e.Cause)
}

// Unwrap returns the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}

// classify turns an error from the RPC client (already passed through the
// breaker) into an *Error of the right kind.
func classify(chainID uint64, op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return &Error{ChainID: chainID, Op: op, Kind: ErrUnavailable, Cause: err}
	case isRevert(err):
		return &Error{ChainID: chainID, Op: op, Kind: ErrReverted, Cause: err}
	default:
		// Transport errors, HTTP status errors, timeouts, cancellations:
		// the chain could not answer.
		return &Error{ChainID: chainID, Op: op, Kind: ErrUnavailable, Cause: err}
	}
}

// isRevert reports whether err is a node's answer that the call reverted
// (JSON-RPC error code 3, or -32000 "execution reverted" from older nodes).
// A revert says nothing about the endpoint's health, so it does not count
// against the breaker. Every other JSON-RPC error (rate limits, internal
// errors, missing state) means the endpoint cannot serve us right now.
func isRevert(err error) bool {
	var rpcErr rpc.Error
	if !errors.As(err, &rpcErr) {
		return false
	}
	return rpcErr.ErrorCode() == 3 || strings.Contains(strings.ToLower(rpcErr.Error()), "revert")
}

// breakerSuccess tells the breaker which errors are not the endpoint's
// fault: reverts.
func breakerSuccess(err error) bool {
	return err == nil || isRevert(err)
}

// breakerExcluded ignores cancellations by the caller (not our per-call
// deadline, which counts as a failure).
func breakerExcluded(err error) bool {
	return errors.Is(err, context.Canceled)
}

// IsUnavailable reports whether err means the chain could not be reached.
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

// isContractFault reports whether err is the contract's doing (revert, bad
// output) rather than the chain's.
func isContractFault(err error) bool {
	return errors.Is(err, ErrReverted) || errors.Is(err, ErrBadResponse)
}
