package gateway

import (
	"errors"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/internal/rpcerr"
)

// ErrInvalidArgument marks a request the caller must fix.
var ErrInvalidArgument = errors.New("invalid argument")

// errorTable maps the domain errors to Connect codes (see rpcerr.ToConnect).
var errorTable = rpcerr.Table{
	{Err: ErrInvalidArgument, Code: connect.CodeInvalidArgument},
}
