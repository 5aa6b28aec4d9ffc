package rpcerr_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/internal/rpcerr"
)

// A service declares its domain errors and the table that maps them; its
// handlers return rpcerr.ToConnect(ctx, logger, err, errorTable).
func Example() {
	var (
		ErrInvalid     = errors.New("invalid argument")
		ErrNotFound    = errors.New("job not found")
		ErrUnavailable = errors.New("the job store is unavailable")
	)
	errorTable := rpcerr.Table{
		{Err: ErrInvalid, Code: connect.CodeInvalidArgument},
		// Another wallet's job is not found either: send nothing more.
		{Err: ErrNotFound, Code: connect.CodeNotFound, Msg: ErrNotFound.Error()},
		// The store's error is ours to read, not the caller's.
		{Err: ErrUnavailable, Code: connect.CodeUnavailable, Msg: "the job store is unavailable; retry"},
	}
	logger := slog.New(slog.DiscardHandler)
	for _, err := range []error{
		fmt.Errorf("%w: page_size must not be negative", ErrInvalid),
		fmt.Errorf("%w: j-42 belongs to 0xabc", ErrNotFound),
		fmt.Errorf("%w: nats: timeout", ErrUnavailable),
		rpcerr.New(connect.CodeResourceExhausted, "3 uploads open; finish one first"),
		errors.New("kv: bucket not found"),
	} {
		fmt.Println(rpcerr.ToConnect(context.Background(), logger, err, errorTable))
	}
	// Output:
	// invalid_argument: invalid argument: page_size must not be negative
	// not_found: job not found
	// unavailable: the job store is unavailable; retry
	// resource_exhausted: 3 uploads open; finish one first
	// internal: internal error
}
