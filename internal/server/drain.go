package server

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/grpchealth"
)

// unwindTimeout bounds how long Shutdown waits, after force-closing
// connections, for the cut handlers to return. A handler that ignores its
// context would otherwise hold Shutdown forever.
const unwindTimeout = time.Second

// tracker counts in-flight requests so Shutdown can wait for them and say
// how many it cut. http.Server.Shutdown alone is not enough: whether it
// waits for h2c streams rests on connection-state details (in Go 1.26 it
// does, as long as the connection stays active), when its context ends it
// returns and leaves the streams running, and it cannot count them.
type tracker struct {
	mu     sync.Mutex
	active int
	idle   chan struct{} // closed when active drops to zero; replaced on the next start
}

func newTracker() *tracker {
	idle := make(chan struct{})
	close(idle)
	return &tracker{idle: idle}
}

// wrap counts every request h serves, except those skip selects.
func (t *tracker) wrap(h http.Handler, skip func(*http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if skip(r) {
			h.ServeHTTP(w, r)
			return
		}
		t.start()
		defer t.finish()
		h.ServeHTTP(w, r)
	})
}

func (t *tracker) start() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.active == 0 {
		t.idle = make(chan struct{})
	}
	t.active++
}

func (t *tracker) finish() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.active--
	if t.active == 0 {
		close(t.idle)
	}
}

func (t *tracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.active
}

// wait returns nil once no request is in flight, or ctx's error.
func (t *tracker) wait(ctx context.Context) error {
	for {
		t.mu.Lock()
		idle, active := t.idle, t.active
		t.mu.Unlock()
		if active == 0 {
			return nil
		}
		select {
		case <-idle:
			// Re-check: a request on a connection that has not yet seen
			// the GOAWAY may have started since.
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Shutdown stops the server gracefully: health goes NOT_SERVING, the
// listener closes (new connections are refused, HTTP/2 connections get a
// GOAWAY), and in-flight requests, unary calls and streams alike, get up to
// DrainTimeout (or until ctx ends) to finish. Server streams still open a
// quarter of the budget (at most a second) before the deadline are ended
// with Unavailable; whatever remains at the deadline is force-closed.
// Either way Shutdown returns an error counting them. It returns nil on
// a clean drain. Shutdown is idempotent: later calls wait for the first and
// return its result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.setStatus(grpchealth.StatusNotServing)

	s.mu.Lock()
	started := s.state == stateStarted
	s.state = stateStopped
	s.mu.Unlock()
	if !started {
		s.closeDone()
		return nil
	}

	start := time.Now()
	drainCtx, cancel := context.WithTimeout(ctx, s.cfg.DrainTimeout)
	defer cancel()
	s.logger.Info("server draining", "in_flight", s.inflight.count(), "timeout", s.cfg.DrainTimeout)

	// http.Server.Shutdown closes the listener, sends GOAWAY on HTTP/2
	// connections, closes idle HTTP/1 ones, and then waits for connections
	// to go quiet. It returns by drainCtx at the latest; we wait for it on
	// every path below.
	httpDone := make(chan error, 1)
	go func() { httpDone <- s.http.Shutdown(drainCtx) }()
	<-s.done // the accept loop has stopped: no new connections from here

	// Server streams still open near the deadline are ended with
	// Unavailable (see drainStreams) while their connections can still
	// carry it, so clients resume elsewhere; the rest of the budget lets
	// them answer. Whatever is left at the deadline is cut.
	answerGrace := min(unwindTimeout, s.cfg.DrainTimeout/4)
	streamsCtx, cancelStreams := context.WithTimeout(drainCtx, s.cfg.DrainTimeout-answerGrace)
	err := s.inflight.wait(streamsCtx)
	cancelStreams()
	if err != nil {
		ended := s.inflight.count()
		s.stopStreams()
		s.watches.cancelAll()
		if err := s.inflight.wait(drainCtx); err != nil {
			return s.forceClose(start, httpDone, err)
		}
		if ended > 0 {
			<-httpDone
			err := fmt.Errorf("server: drain stopped after %v: %d in-flight calls cut: %w",
				time.Since(start).Round(time.Millisecond), ended, context.DeadlineExceeded)
			s.logger.Warn("server shutdown ended streams", "ended", ended)
			return err
		}
	}
	// Every call is done. Watchers have been told NOT_SERVING; end their
	// streams so their connections can close too.
	s.watches.cancelAll()
	if err := <-httpDone; err != nil {
		// Connections lingered past the deadline (the HTTP/2 GOAWAY grace,
		// a slow client) but no call was cut.
		s.logger.Debug("closing lingering connections", "error", err)
		_ = s.http.Close()
	}
	s.logger.Info("server drained", "duration", time.Since(start))
	return nil
}

// forceClose cuts what the drain left, reports how much that was, and gives
// the cut handlers a moment to return.
func (s *Server) forceClose(start time.Time, httpDone <-chan error, cause error) error {
	cut := s.inflight.count()
	s.watches.cancelAll()
	_ = s.http.Close() // closes every connection; handler contexts are canceled
	<-httpDone

	unwind, cancel := context.WithTimeout(context.Background(), unwindTimeout)
	defer cancel()
	if err := s.inflight.wait(unwind); err != nil {
		s.logger.Error("handlers still running after connections were closed",
			"count", s.inflight.count(), "waited", unwindTimeout)
	}
	err := fmt.Errorf("server: drain stopped after %v: %d in-flight calls cut: %w",
		time.Since(start).Round(time.Millisecond), cut, cause)
	s.logger.Warn("server shutdown cut calls", "cut", cut, "error", cause)
	return err
}
