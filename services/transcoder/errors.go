package transcoder

import (
	"errors"
	"fmt"
)

// Domain errors; toConnectError maps them to codes.
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

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func precondition(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrPrecondition, fmt.Sprintf(format, args...))
}
