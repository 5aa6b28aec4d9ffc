package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"connectrpc.com/connect"
)

// kind classifies a domain error; toConnectError maps it to a code.
type kind int

const (
	kindInvalid kind = iota + 1
	kindUnauthenticated
	kindPermissionDenied
	kindNotFound
	kindFailedPrecondition
	kindResourceExhausted
	kindUnavailable
)

// domainError is an error meant for the caller: msg is sent, cause is only
// logged.
type domainError struct {
	kind  kind
	msg   string
	cause error
}

func (e *domainError) Error() string {
	if e.cause != nil {
		return e.msg + ": " + e.cause.Error()
	}
	return e.msg
}

func (e *domainError) Unwrap() error { return e.cause }

func newErr(k kind, format string, args ...any) *domainError {
	return &domainError{kind: k, msg: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) error { return newErr(kindInvalid, format, args...) }
func unauthenticated(format string, args ...any) error {
	return newErr(kindUnauthenticated, format, args...)
}

// unavailable keeps the cause for the log and sends only msg.
func unavailable(cause error, format string, args ...any) error {
	e := newErr(kindUnavailable, format, args...)
	e.cause = cause
	return e
}

var codes = map[kind]connect.Code{
	kindInvalid:            connect.CodeInvalidArgument,
	kindUnauthenticated:    connect.CodeUnauthenticated,
	kindPermissionDenied:   connect.CodePermissionDenied,
	kindNotFound:           connect.CodeNotFound,
	kindFailedPrecondition: connect.CodeFailedPrecondition,
	kindResourceExhausted:  connect.CodeResourceExhausted,
	kindUnavailable:        connect.CodeUnavailable,
}

// toConnectError maps a domain error to its Connect code. Causes are
// logged, never sent; an unclassified error is Internal.
func toConnectError(ctx context.Context, logger *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	var de *domainError
	if errors.As(err, &de) {
		if de.cause != nil {
			logger.WarnContext(ctx, de.msg, "err", de.cause)
		}
		return connect.NewError(codes[de.kind], errors.New(de.msg))
	}
	if errors.Is(err, context.Canceled) {
		return connect.NewError(connect.CodeCanceled, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	}
	logger.ErrorContext(ctx, "internal error", "err", err)
	return connect.NewError(connect.CodeInternal, errors.New("internal error"))
}
