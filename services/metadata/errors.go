package metadata

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"

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

// toConnectError maps a domain error to its Connect code. User errors keep
// their message; internal causes are logged and not sent.
func toConnectError(ctx context.Context, logger *slog.Logger, procedure string, err error) error {
	if err == nil {
		return nil
	}
	if ce := new(connect.Error); errors.As(err, &ce) {
		return err
	}
	code := connect.CodeInternal
	switch {
	case errors.Is(err, ErrInvalidArgument):
		code = connect.CodeInvalidArgument
	case errors.Is(err, ErrNotFound), errors.Is(err, store.ErrNotFound):
		code = connect.CodeNotFound
	case errors.Is(err, ErrUnauthenticated):
		code = connect.CodeUnauthenticated
	case errors.Is(err, ErrPermissionDenied):
		code = connect.CodePermissionDenied
	case errors.Is(err, ErrAborted), errors.Is(err, store.ErrConflict):
		code = connect.CodeAborted
	case errors.Is(err, ErrFailedPrecond):
		code = connect.CodeFailedPrecondition
	case errors.Is(err, context.Canceled):
		code = connect.CodeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		code = connect.CodeDeadlineExceeded
	}
	if code == connect.CodeInternal {
		logger.ErrorContext(ctx, "internal error", "procedure", procedure, "err", err)
		return connect.NewError(code, errors.New("internal error"))
	}
	if code == connect.CodeAborted {
		return connect.NewError(code, ErrAborted)
	}
	return connect.NewError(code, err)
}
