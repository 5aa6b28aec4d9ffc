package events

import (
	"errors"
	"fmt"
)

// ErrInvalidEvent is returned, wrapped, for a message that cannot travel as
// an event: no event option, or no event_id. It is the caller's bug, like
// connect.CodeInvalidArgument, and retrying cannot help.
var ErrInvalidEvent = errors.New("events: invalid event")

// ErrPermanent marks a handler error that redelivery cannot fix (a malformed
// event, a reference to something that will never exist). Subscribe
// terminates such a message instead of retrying it. Match with errors.Is.
var ErrPermanent = errors.New("permanent failure")

// Permanent wraps err so that errors.Is(err, ErrPermanent) holds while the
// original error stays reachable through errors.Is and errors.As.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err: err}
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return fmt.Sprintf("permanent: %v", e.err) }

func (e permanentError) Unwrap() []error { return []error{ErrPermanent, e.err} }
