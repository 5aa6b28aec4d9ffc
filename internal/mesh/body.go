package mesh

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// trackedBody ends the request's in-flight accounting when the response body
// is finished, and reports a gRPC status from the trailers to the breaker.
type trackedBody struct {
	rc     io.ReadCloser
	resp   *http.Response
	ep     *endpoint
	report func(error) // set only when the outcome waits for trailers
	done   atomic.Bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil {
		b.finish(err)
	}
	return n, err
}

func (b *trackedBody) Close() error {
	err := b.rc.Close()
	b.finish(nil)
	return err
}

func (b *trackedBody) finish(readErr error) {
	if !b.done.CompareAndSwap(false, true) {
		return
	}
	b.ep.inflight.Add(-1)
	if b.report == nil {
		return
	}
	switch {
	case errors.Is(readErr, io.EOF):
		b.ep.finish(b.report, grpcOutcome(b.resp.Trailer.Get("Grpc-Status")))
	case readErr != nil && b.resp.Request.Context().Err() == nil:
		b.ep.finish(b.report, readErr)
	default:
		// Closed early or canceled by the caller: no verdict.
		b.ep.finish(b.report, errCallerGone)
	}
}

// replayBody lets a request body be sent again after a failed dial.
// http.Transport closes the body even when it could not connect; replayBody
// holds back a Close that comes before any Read while the transport may
// still try another endpoint, so the same body can go to the next one.
type replayBody struct {
	rc io.ReadCloser

	mu      sync.Mutex
	read    bool // a Read happened: bytes may have left
	closed  bool // rc is closed
	holding bool // hold back a Close before Read (until release)
	held    bool // the current attempt closed the body before reading
}

// newReplayBody wraps rc; it returns nil for an empty body, which needs no
// guarding.
func newReplayBody(rc io.ReadCloser) *replayBody {
	if rc == nil || rc == http.NoBody {
		return nil
	}
	return &replayBody{rc: rc, holding: true}
}

func (b *replayBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	b.read = true
	b.mu.Unlock()
	return b.rc.Read(p)
}

func (b *replayBody) Close() error {
	b.mu.Lock()
	if b.holding && !b.read {
		b.held = true
		b.mu.Unlock()
		return nil
	}
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	return b.rc.Close()
}

// rearm starts a new attempt: a Close held from the previous one is void.
func (b *replayBody) rearm() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.held = false
	b.mu.Unlock()
}

// replayable reports whether the body can be sent again untouched.
func (b *replayBody) replayable() bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.read && !b.closed
}

// release ends the holding when RoundTrip returns: later Closes go through,
// and a Close the last attempt made before reading is carried out now.
func (b *replayBody) release() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.holding = false
	closeNow := b.held && !b.closed
	if closeNow {
		b.closed = true
	}
	b.mu.Unlock()
	if closeNow {
		_ = b.rc.Close()
	}
}
