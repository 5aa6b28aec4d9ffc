package upload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"connectrpc.com/connect"
)

type errKind int

const (
	kindInvalid errKind = iota + 1
	kindNotFound
	kindUnauthenticated
	kindExhausted
	kindPrecondition
	kindUnavailable
)

// Error is a domain error a client can act on. Anything else returned by
// the domain is internal: logged, and sent as a bare Internal.
type Error struct {
	kind errKind
	msg  string
}

func (e *Error) Error() string { return e.msg }

func errorf(k errKind, format string, args ...any) error {
	return &Error{kind: k, msg: fmt.Sprintf(format, args...)}
}

// ErrNotFound is the error for an unknown upload or another wallet's.
var errNotFound = &Error{kind: kindNotFound, msg: "upload not found"}

func toConnectError(ctx context.Context, logger *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	var de *Error
	if errors.As(err, &de) {
		code := map[errKind]connect.Code{
			kindInvalid:         connect.CodeInvalidArgument,
			kindNotFound:        connect.CodeNotFound,
			kindUnauthenticated: connect.CodeUnauthenticated,
			kindExhausted:       connect.CodeResourceExhausted,
			kindPrecondition:    connect.CodeFailedPrecondition,
			kindUnavailable:     connect.CodeUnavailable,
		}[de.kind]
		return connect.NewError(code, errors.New(de.msg))
	}
	switch {
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	}
	logger.ErrorContext(ctx, "upload: internal error", "err", err)
	return connect.NewError(connect.CodeInternal, errors.New("internal error"))
}
