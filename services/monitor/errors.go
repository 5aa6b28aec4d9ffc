package monitor

import (
	"errors"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/internal/rpcerr"
)

// ErrNotFound marks an unknown resource (an unconfigured chain).
var ErrNotFound = errors.New("not found")

// errorTable maps the domain errors to Connect codes (see rpcerr.ToConnect).
var errorTable = rpcerr.Table{
	{Err: ErrInvalidArgument, Code: connect.CodeInvalidArgument},
	{Err: ErrNotFound, Code: connect.CodeNotFound},
}
