package rpcerr_test

import (
	"log/slog"
	"testing"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/internal/rpcerr"
)

func TestLevelFor(t *testing.T) {
	for _, tc := range []struct {
		code connect.Code
		want slog.Level
	}{
		{connect.CodeInternal, slog.LevelError},
		{connect.CodeUnknown, slog.LevelError},
		{connect.CodeDataLoss, slog.LevelError},
		{connect.CodeUnavailable, slog.LevelWarn},
		{connect.CodeInvalidArgument, slog.LevelInfo},
		{connect.CodeNotFound, slog.LevelInfo},
		{connect.CodePermissionDenied, slog.LevelInfo},
		{connect.CodeCanceled, slog.LevelInfo},
		{connect.CodeDeadlineExceeded, slog.LevelInfo},
	} {
		if got := rpcerr.LevelFor(tc.code); got != tc.want {
			t.Errorf("rpcerr.LevelFor(%v) = %v, want %v", tc.code, got, tc.want)
		}
	}
}
