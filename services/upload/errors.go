package upload

import (
	"fmt"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/internal/rpcerr"
)

func errorf(code connect.Code, format string, args ...any) error {
	return rpcerr.New(code, fmt.Sprintf(format, args...))
}

// errNotFound is the error for an unknown upload or another wallet's.
var errNotFound = rpcerr.New(connect.CodeNotFound, "upload not found")

// errorTable is empty: every error the domain classifies is an
// rpcerr.Error, whose code and message are sent; anything else is
// Internal.
var errorTable rpcerr.Table
