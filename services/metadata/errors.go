package metadata

import (
	"errors"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/internal/rpcerr"
	"github.com/streamgate/streamgate/services/metadata/store"
)

// Domain errors. Every error the domain returns to a caller wraps one of
// them; anything else is an internal failure, logged and sent as Internal
// without its cause.
var (
	ErrInvalidArgument  = errors.New("invalid argument")
	ErrNotFound         = errors.New("not found")
	ErrUnauthenticated  = errors.New("sign in first: this call needs a session")
	ErrPermissionDenied = errors.New("permission denied")
	ErrAborted          = errors.New("the video changed since it was read: read it again and retry")
	ErrFailedPrecond    = errors.New("failed precondition")
)

// errorTable maps the domain errors to Connect codes (see rpcerr.ToConnect).
// A store conflict is sent as ErrAborted's text: the store's wording is
// not the caller's.
var errorTable = rpcerr.Table{
	{Err: ErrInvalidArgument, Code: connect.CodeInvalidArgument},
	{Err: ErrNotFound, Code: connect.CodeNotFound},
	{Err: store.ErrNotFound, Code: connect.CodeNotFound},
	{Err: ErrUnauthenticated, Code: connect.CodeUnauthenticated},
	{Err: ErrPermissionDenied, Code: connect.CodePermissionDenied},
	{Err: ErrAborted, Code: connect.CodeAborted, Msg: ErrAborted.Error()},
	{Err: store.ErrConflict, Code: connect.CodeAborted, Msg: ErrAborted.Error()},
	{Err: ErrFailedPrecond, Code: connect.CodeFailedPrecondition},
}
