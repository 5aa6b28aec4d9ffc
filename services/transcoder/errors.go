package transcoder

import (
	"errors"
	"fmt"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/internal/rpcerr"
)

// Domain errors; errorTable maps them to codes.
var (
	// ErrNotFound: no such job, or a job of another wallet's video.
	ErrNotFound = errors.New("job not found")
	// ErrInvalid wraps bad input.
	ErrInvalid = errors.New("invalid argument")
	// ErrPrecondition wraps a request the job's state does not allow.
	ErrPrecondition = errors.New("failed precondition")
	// ErrQueueFull: the queue is at its configured maximum depth.
	ErrQueueFull = errors.New("the transcode queue is full; try again later")
	// ErrUnavailable: the queue or job store cannot be reached.
	ErrUnavailable = errors.New("the transcode queue is unavailable")
	// ErrPermission: the caller lacks the operator credential.
	ErrPermission = errors.New("this call needs the operator credential")
)

// errorTable maps the domain errors to Connect codes (see rpcerr.ToConnect).
// A job that is not found says no more (it may be another wallet's); a
// store failure is logged, not sent.
var errorTable = rpcerr.Table{
	{Err: ErrNotFound, Code: connect.CodeNotFound, Msg: ErrNotFound.Error()},
	{Err: ErrInvalid, Code: connect.CodeInvalidArgument},
	{Err: ErrPrecondition, Code: connect.CodeFailedPrecondition},
	{Err: ErrQueueFull, Code: connect.CodeResourceExhausted},
	{Err: ErrTooSlow, Code: connect.CodeResourceExhausted},
	{Err: ErrPermission, Code: connect.CodePermissionDenied},
	{Err: ErrUnavailable, Code: connect.CodeUnavailable, Msg: ErrUnavailable.Error()},
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func precondition(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrPrecondition, fmt.Sprintf(format, args...))
}
