package worker

import (
	"context"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/internal/rpcerr"
)

// unavailableMsg is all a caller learns of a store failure.
const unavailableMsg = "job store unavailable; retry with the same idempotency_key"

// errorTable maps the domain errors to Connect codes (see rpcerr.ToConnect).
// A store call that ran out of time is a store failure too: the caller
// retries with the same idempotency key.
var errorTable = rpcerr.Table{
	{Err: ErrInvalid, Code: connect.CodeInvalidArgument},
	{Err: ErrNotFound, Code: connect.CodeNotFound},
	{Err: ErrPrecondition, Code: connect.CodeFailedPrecondition},
	{Err: ErrAlreadyExists, Code: connect.CodeAlreadyExists},
	{Err: ErrExhausted, Code: connect.CodeResourceExhausted},
	{Err: ErrPermission, Code: connect.CodePermissionDenied},
	{Err: ErrUnavailable, Code: connect.CodeUnavailable, Msg: unavailableMsg},
	{Err: context.DeadlineExceeded, Code: connect.CodeUnavailable, Msg: unavailableMsg},
}
