package access

import "errors"

// Errors returned by Evaluator.Check, for the service to map to codes. Each
// returned error wraps exactly one of them and names the rule it concerns.
var (
	// ErrInvalidPolicy: the policy or a rule is malformed (bad address,
	// number, missing token id, unconfigured chain...). InvalidArgument.
	ErrInvalidPolicy = errors.New("access: invalid policy")
	// ErrMisconfigured: the policy is well-formed but the contract does not
	// match it: ERC-165 says it is not the named standard, it has no code,
	// or it does not answer the standard's calls. FailedPrecondition.
	ErrMisconfigured = errors.New("access: policy does not match the contract")
	// ErrUnavailable: a chain the decision needs cannot be reached and no
	// fresh cached result exists. The decision is NOT allowed. Unavailable.
	ErrUnavailable = errors.New("access: chain unavailable")
)
