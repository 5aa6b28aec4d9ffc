// Package rpcerr is the one way a service turns a domain error into a
// Connect error.
//
// A service declares a Table: its sentinel errors in order, each with the
// Connect code it answers; the first entry that errors.Is matches wins. Its
// handlers pass every failure through ToConnect. User errors keep their
// text; an entry with a Msg sends only that and logs the rest; an error no
// entry classifies is logged and answered as Internal without its text, so
// an internal cause never reaches a caller.
//
// A domain that has no sentinels, only errors built where they happen with
// a message for the caller, makes them with New or Wrap instead: they
// carry their code, the message sent, and a cause that is only logged.
package rpcerr

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"
)

// Entry maps one domain error to a Connect code.
type Entry struct {
	// Err is the sentinel, matched with errors.Is. Otherwise makes the
	// entry the answer to every error nothing else classified.
	Err error
	// Code is the code the caller gets.
	Code connect.Code
	// Msg, when set, is the only text sent: the error says something the
	// caller must not see (a store's wording, a dependency's address), so
	// it is logged instead when it says more than Err. Set Msg to Err's own
	// text to send just the sentinel. Empty sends the whole error's text.
	Msg string
}

// Table is a service's mapping, tried in order.
type Table []Entry

// Otherwise, as the Err of a table's entry, matches an error that no other
// entry and no context error matched: for a service whose unclassified
// failures mean something other than Internal (the cache's backend, which
// callers treat as a miss when Unavailable). The error is logged at Error
// and never sent: Msg, or "internal error", is. Put it last.
var Otherwise = errors.New("rpcerr: any other error")

// internalMsg is all a caller learns of an unclassified error.
const internalMsg = "internal error"

// Error is a domain error that carries its own code and the message the
// caller sees. Its cause, if any, is only logged.
type Error struct {
	code  connect.Code
	msg   string
	cause error
}

// New returns an error answered with code and msg.
func New(code connect.Code, msg string) *Error {
	return &Error{code: code, msg: msg}
}

// Wrap returns an error answered with code and msg; cause is logged, not
// sent.
func Wrap(code connect.Code, cause error, msg string) *Error {
	return &Error{code: code, msg: msg, cause: cause}
}

// Error is the message followed by the cause, for logs and tests.
func (e *Error) Error() string {
	if e.cause != nil {
		return e.msg + ": " + e.cause.Error()
	}
	return e.msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.cause }

// Code is the code the caller gets.
func (e *Error) Code() connect.Code { return e.code }

// Message is the text the caller gets, without the cause.
func (e *Error) Message() string { return e.msg }

// ToConnect turns err into the error a handler returns, in this order:
//
//   - nil is nil;
//   - an error that wraps a *connect.Error is that error, unchanged (a
//     handler's own or a downstream call's);
//   - an *Error is answered with its code and message, its cause logged;
//   - the first table entry matching err gives the code and the text (see
//     Entry.Msg);
//   - context.Canceled is Canceled and context.DeadlineExceeded is
//     DeadlineExceeded, with the bare context error's text;
//   - anything else is logged at Error and answered as Internal with
//     "internal error" (or as the table's Otherwise entry says).
//
// Log records carry the procedure when ctx is a handler's, the code and
// the error. A cause hidden from the caller is logged at a level that
// follows its code, as the server's access log does: ERROR for Internal,
// Unknown and DataLoss, WARN for Unavailable, INFO for what a client can
// cause.
func ToConnect(ctx context.Context, logger *slog.Logger, err error, table Table) error {
	if err == nil {
		return nil
	}
	if ce := new(connect.Error); errors.As(err, &ce) {
		return ce
	}
	if e := new(Error); errors.As(err, &e) {
		if e.cause != nil {
			logCause(ctx, logger, LevelFor(e.code), e.code, e.msg, err)
		}
		return connect.NewError(e.code, errors.New(e.msg))
	}
	var otherwise *Entry
	for i := range table {
		en := &table[i]
		if en.Err == Otherwise {
			if otherwise == nil {
				otherwise = en
			}
			continue
		}
		if !errors.Is(err, en.Err) {
			continue
		}
		if en.Msg == "" {
			return connect.NewError(en.Code, err)
		}
		if err != en.Err {
			logCause(ctx, logger, LevelFor(en.Code), en.Code, en.Msg, err)
		}
		return connect.NewError(en.Code, errors.New(en.Msg))
	}
	switch {
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, context.Canceled)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, context.DeadlineExceeded)
	}
	code, msg := connect.CodeInternal, internalMsg
	if otherwise != nil {
		code = otherwise.Code
		if otherwise.Msg != "" {
			msg = otherwise.Msg
		}
	}
	logCause(ctx, logger, slog.LevelError, code, msg, err)
	return connect.NewError(code, errors.New(msg))
}

// logCause logs err, which the caller did not see, under the message it
// did see.
func logCause(ctx context.Context, logger *slog.Logger, level slog.Level, code connect.Code, msg string, err error) {
	if !logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 3)
	if ci, ok := connect.CallInfoForHandlerContext(ctx); ok {
		attrs = append(attrs, slog.String("procedure", ci.Spec().Procedure))
	}
	attrs = append(attrs, slog.String("code", code.String()), slog.Any("err", err))
	logger.LogAttrs(ctx, level, msg, attrs...)
}

// LevelFor is the log level of a failure with code: it says whose fault it
// is, so a bad client cannot page anyone. The server's access log uses it
// too.
func LevelFor(code connect.Code) slog.Level {
	switch code {
	case connect.CodeInternal, connect.CodeUnknown, connect.CodeDataLoss:
		return slog.LevelError
	case connect.CodeUnavailable:
		return slog.LevelWarn
	default:
		return slog.LevelInfo
	}
}
