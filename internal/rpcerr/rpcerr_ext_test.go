package rpcerr_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/streamgate/streamgate/internal/rpcerr"
)

var (
	errBad     = errors.New("bad input")
	errGone    = errors.New("not found")
	errBusy    = errors.New("store unavailable")
	errStale   = errors.New("changed since read")
	errSecret  = errors.New("dial tcp 10.0.0.7:5432: connection refused")
	errUnknown = errors.New("boom at 10.0.0.7")
)

var table = rpcerr.Table{
	{Err: errBad, Code: connect.CodeInvalidArgument},
	{Err: errGone, Code: connect.CodeNotFound, Msg: errGone.Error()},
	{Err: errBusy, Code: connect.CodeUnavailable, Msg: "try again later"},
	{Err: errStale, Code: connect.CodeAborted, Msg: "read it again and retry"},
}

// record is one captured log record.
type record struct {
	Level, Msg, Procedure, Code, Err string
}

// capture returns a logger that keeps every record, and a function that
// returns them.
func capture(t *testing.T) (*slog.Logger, func() []record) {
	t.Helper()
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return logger, func() []record {
		var out []record
		for line := range strings.Lines(buf.String()) {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			s := func(k string) string { v, _ := m[k].(string); return v }
			out = append(out, record{Level: s("level"), Msg: s("msg"), Procedure: s("procedure"), Code: s("code"), Err: s("err")})
		}
		return out
	}
}

func TestToConnect(t *testing.T) {
	sendErr := connect.NewError(connect.CodeResourceExhausted, errors.New("downstream said so"))
	tests := []struct {
		name     string
		table    rpcerr.Table
		err      error
		wantCode connect.Code
		wantMsg  string
		// wantLog is the level and message of the one record expected, or
		// "" for none; the record must carry the whole error.
		wantLevel, wantLogMsg string
	}{
		{
			name: "user error keeps its text", table: table,
			err:      fmt.Errorf("%w: page_size must not be negative", errBad),
			wantCode: connect.CodeInvalidArgument, wantMsg: "bad input: page_size must not be negative",
		},
		{
			name: "first matching entry wins", table: table,
			err:      fmt.Errorf("%w: %w", errBusy, errBad),
			wantCode: connect.CodeInvalidArgument, wantMsg: "store unavailable: bad input",
		},
		{
			name: "bare sentinel with Msg: sent, nothing to log", table: table,
			err:      errGone,
			wantCode: connect.CodeNotFound, wantMsg: "not found",
		},
		{
			name: "sentinel's text only, cause logged at INFO for a client code", table: table,
			err:      fmt.Errorf("%w: job j-42 of wallet 0xabc", errGone),
			wantCode: connect.CodeNotFound, wantMsg: "not found",
			wantLevel: "INFO", wantLogMsg: "not found",
		},
		{
			name: "Unavailable hides its cause, logged at WARN", table: table,
			err:      fmt.Errorf("%w: %w", errBusy, errSecret),
			wantCode: connect.CodeUnavailable, wantMsg: "try again later",
			wantLevel: "WARN", wantLogMsg: "try again later",
		},
		{
			name: "Aborted hides the store's wording", table: table,
			err:      fmt.Errorf("%w: v-1 is no longer at version 3", errStale),
			wantCode: connect.CodeAborted, wantMsg: "read it again and retry",
			wantLevel: "INFO", wantLogMsg: "read it again and retry",
		},
		{
			name: "canceled, without the wrapping text", table: table,
			err:      fmt.Errorf("query 10.0.0.7: %w", context.Canceled),
			wantCode: connect.CodeCanceled, wantMsg: "context canceled",
		},
		{
			name: "deadline exceeded, without the wrapping text", table: table,
			err:      fmt.Errorf("query 10.0.0.7: %w", context.DeadlineExceeded),
			wantCode: connect.CodeDeadlineExceeded, wantMsg: "context deadline exceeded",
		},
		{
			name: "a table entry beats the context mapping",
			table: rpcerr.Table{
				{Err: context.DeadlineExceeded, Code: connect.CodeUnavailable, Msg: "store unavailable; retry"},
			},
			err:      fmt.Errorf("kv get: %w", context.DeadlineExceeded),
			wantCode: connect.CodeUnavailable, wantMsg: "store unavailable; retry",
			wantLevel: "WARN", wantLogMsg: "store unavailable; retry",
		},
		{
			name: "unclassified: Internal, cause only logged", table: table,
			err:      fmt.Errorf("write row: %w", errSecret),
			wantCode: connect.CodeInternal, wantMsg: "internal error",
			wantLevel: "ERROR", wantLogMsg: "internal error",
		},
		{
			name: "no table at all", table: nil,
			err:      errUnknown,
			wantCode: connect.CodeInternal, wantMsg: "internal error",
			wantLevel: "ERROR", wantLogMsg: "internal error",
		},
		{
			name: "Otherwise answers the unclassified, logged at ERROR",
			table: rpcerr.Table{
				{Err: rpcerr.Otherwise, Code: connect.CodeUnavailable, Msg: "backend unavailable"},
				{Err: errBad, Code: connect.CodeInvalidArgument},
			},
			err:      errSecret,
			wantCode: connect.CodeUnavailable, wantMsg: "backend unavailable",
			wantLevel: "ERROR", wantLogMsg: "backend unavailable",
		},
		{
			name: "Otherwise, wherever it stands, comes after the entries",
			table: rpcerr.Table{
				{Err: rpcerr.Otherwise, Code: connect.CodeUnavailable, Msg: "backend unavailable"},
				{Err: errBad, Code: connect.CodeInvalidArgument},
			},
			err:      errBad,
			wantCode: connect.CodeInvalidArgument, wantMsg: "bad input",
		},
		{
			name:     "Otherwise comes after the context errors",
			table:    rpcerr.Table{{Err: rpcerr.Otherwise, Code: connect.CodeUnavailable, Msg: "backend unavailable"}},
			err:      context.Canceled,
			wantCode: connect.CodeCanceled, wantMsg: "context canceled",
		},
		{
			name:     "Otherwise without Msg sends no text of its own",
			table:    rpcerr.Table{{Err: rpcerr.Otherwise, Code: connect.CodeUnavailable}},
			err:      errSecret,
			wantCode: connect.CodeUnavailable, wantMsg: "internal error",
			wantLevel: "ERROR", wantLogMsg: "internal error",
		},
		{
			name: "Error: code and message", table: table,
			err:      rpcerr.New(connect.CodeFailedPrecondition, "video v-1 is not playable"),
			wantCode: connect.CodeFailedPrecondition, wantMsg: "video v-1 is not playable",
		},
		{
			name: "Error, wrapped: found, message only", table: table,
			err:      fmt.Errorf("sign in: %w", rpcerr.New(connect.CodeUnauthenticated, "session not found")),
			wantCode: connect.CodeUnauthenticated, wantMsg: "session not found",
		},
		{
			name: "Error's cause is logged, not sent", table: table,
			err:      rpcerr.Wrap(connect.CodeUnavailable, errSecret, "the chain is unreachable; try again"),
			wantCode: connect.CodeUnavailable, wantMsg: "the chain is unreachable; try again",
			wantLevel: "WARN", wantLogMsg: "the chain is unreachable; try again",
		},
		{
			name: "Error's cause, client code: INFO", table: table,
			err:      rpcerr.Wrap(connect.CodeFailedPrecondition, errSecret, "the policy cannot be evaluated"),
			wantCode: connect.CodeFailedPrecondition, wantMsg: "the policy cannot be evaluated",
			wantLevel: "INFO", wantLogMsg: "the policy cannot be evaluated",
		},
		{
			name: "Error's cause, server code: ERROR", table: table,
			err:      rpcerr.Wrap(connect.CodeDataLoss, errSecret, "segment lost"),
			wantCode: connect.CodeDataLoss, wantMsg: "segment lost",
			wantLevel: "ERROR", wantLogMsg: "segment lost",
		},
		{
			name: "Error beats the table even when its cause matches", table: table,
			err:      rpcerr.Wrap(connect.CodeResourceExhausted, errBusy, "quota reached"),
			wantCode: connect.CodeResourceExhausted, wantMsg: "quota reached",
			wantLevel: "INFO", wantLogMsg: "quota reached",
		},
		{
			name: "a connect error passes through", table: table,
			err:      fmt.Errorf("call metadata: %w", sendErr),
			wantCode: connect.CodeResourceExhausted, wantMsg: "downstream said so",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, records := capture(t)
			got := rpcerr.ToConnect(t.Context(), logger, tt.err, tt.table)
			var ce *connect.Error
			if !errors.As(got, &ce) {
				t.Fatalf("ToConnect(%v) = %T %v, want a *connect.Error", tt.err, got, got)
			}
			if ce.Code() != tt.wantCode || ce.Message() != tt.wantMsg {
				t.Errorf("ToConnect(%v) = %v %q, want %v %q", tt.err, ce.Code(), ce.Message(), tt.wantCode, tt.wantMsg)
			}
			if strings.Contains(ce.Error(), "10.0.0.7") {
				t.Errorf("the cause reached the caller: %q", ce.Error())
			}
			recs := records()
			if tt.wantLevel == "" {
				if len(recs) != 0 {
					t.Errorf("logged %+v, want nothing", recs)
				}
				return
			}
			if len(recs) != 1 {
				t.Fatalf("logged %+v, want one record", recs)
			}
			r := recs[0]
			if r.Level != tt.wantLevel || r.Msg != tt.wantLogMsg || r.Code != tt.wantCode.String() || r.Err != tt.err.Error() {
				t.Errorf("logged %+v, want level %s, msg %q, code %s, err %q", r, tt.wantLevel, tt.wantLogMsg, tt.wantCode, tt.err.Error())
			}
			if r.Procedure != "" {
				t.Errorf("logged procedure %q outside a handler, want none", r.Procedure)
			}
		})
	}
}

func TestToConnectNil(t *testing.T) {
	logger, records := capture(t)
	if err := rpcerr.ToConnect(t.Context(), logger, nil, table); err != nil {
		t.Errorf("ToConnect(nil) = %v, want nil", err)
	}
	if recs := records(); len(recs) != 0 {
		t.Errorf("logged %+v, want nothing", recs)
	}
}

// TestToConnectPassesConnectErrorsThrough checks that the very error is
// returned, details and metadata included.
func TestToConnectPassesConnectErrorsThrough(t *testing.T) {
	want := connect.NewError(connect.CodeUnavailable, errors.New("shutting down"))
	want.Meta().Set("Retry-After", "1")
	got := rpcerr.ToConnect(t.Context(), slog.New(slog.DiscardHandler), fmt.Errorf("stream: %w", want), table)
	if got != want {
		t.Errorf("ToConnect = %v, want the same *connect.Error %v", got, want)
	}
}

func TestError(t *testing.T) {
	e := rpcerr.Wrap(connect.CodeUnavailable, errSecret, "cannot check access now")
	if got, want := e.Error(), "cannot check access now: "+errSecret.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, errSecret) {
		t.Errorf("errors.Is(%v, cause) = false, want true", e)
	}
	if e.Code() != connect.CodeUnavailable || e.Message() != "cannot check access now" {
		t.Errorf("Code, Message = %v, %q; want unavailable, %q", e.Code(), e.Message(), "cannot check access now")
	}
	n := rpcerr.New(connect.CodeNotFound, "upload not found")
	if n.Error() != "upload not found" || n.Unwrap() != nil {
		t.Errorf("New: Error() = %q, Unwrap() = %v; want %q, nil", n.Error(), n.Unwrap(), "upload not found")
	}
}

// TestToConnectInHandler runs a real Connect handler: the record names the
// procedure, and the caller receives the code and message only.
func TestToConnectInHandler(t *testing.T) {
	const procedure = "/test.v1.TestService/Call"
	logger, records := capture(t)
	mux := http.NewServeMux()
	mux.Handle(procedure, connect.NewUnaryHandler(procedure,
		func(ctx context.Context, _ *connect.Request[emptypb.Empty]) (*connect.Response[emptypb.Empty], error) {
			return nil, rpcerr.ToConnect(ctx, logger, fmt.Errorf("%w: %w", errBusy, errSecret), table)
		}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	client := connect.NewClient[emptypb.Empty, emptypb.Empty](srv.Client(), srv.URL+procedure)
	_, err := client.CallUnary(t.Context(), connect.NewRequest(&emptypb.Empty{}))
	if got := connect.CodeOf(err); got != connect.CodeUnavailable {
		t.Fatalf("code = %v (%v), want unavailable", got, err)
	}
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Message() != "try again later" {
		t.Errorf("caller got %v, want the message %q alone", err, "try again later")
	}
	recs := records()
	if len(recs) != 1 || recs[0].Procedure != procedure || recs[0].Err != fmt.Errorf("%w: %w", errBusy, errSecret).Error() {
		t.Errorf("logged %+v, want one record with procedure %s and the cause", recs, procedure)
	}
}
