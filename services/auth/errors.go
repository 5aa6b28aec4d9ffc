package auth

import (
	"fmt"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/internal/rpcerr"
)

// The domain builds its errors where they happen, each with the message
// its caller sees: they are rpcerr.Errors, which carry their Connect code,
// and a cause that is only logged. An unclassified error is Internal.

func newErr(code connect.Code, format string, args ...any) error {
	return rpcerr.New(code, fmt.Sprintf(format, args...))
}

// wrapErr keeps the cause for the log and sends only the message.
func wrapErr(code connect.Code, cause error, format string, args ...any) error {
	return rpcerr.Wrap(code, cause, fmt.Sprintf(format, args...))
}

func invalid(format string, args ...any) error {
	return newErr(connect.CodeInvalidArgument, format, args...)
}

func unauthenticated(format string, args ...any) error {
	return newErr(connect.CodeUnauthenticated, format, args...)
}

// unavailable keeps the cause for the log and sends only the message.
func unavailable(cause error, format string, args ...any) error {
	return wrapErr(connect.CodeUnavailable, cause, format, args...)
}

// errorTable is empty: every error the domain classifies is an
// rpcerr.Error.
var errorTable rpcerr.Table
