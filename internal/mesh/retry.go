package mesh

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/internal/catalog"
)

// retryInterceptor retries unary calls that the contract marks safe to
// repeat (NO_SIDE_EFFECTS or IDEMPOTENT) when they fail with Unavailable,
// the code for a transient failure that trying again, elsewhere, may cure
// (the transport also returns it when an instance dies mid-call). Other
// codes are answers, not outages. Streams are never retried. Each retry
// costs a token from the budget.
type retryInterceptor struct {
	cat         *catalog.Catalog
	maxAttempts int
	backoff     time.Duration
	backoffMax  time.Duration
	budget      *retryBudget
	logger      *slog.Logger
}

func newRetryInterceptor(cat *catalog.Catalog, opts Options, budget *retryBudget, logger *slog.Logger) *retryInterceptor {
	return &retryInterceptor{
		cat:         cat,
		maxAttempts: opts.MaxAttempts,
		backoff:     opts.RetryBackoff,
		backoffMax:  opts.RetryBackoffMax,
		budget:      budget,
		logger:      logger,
	}
}

func (r *retryInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if !req.Spec().IsClient {
			return next(ctx, req)
		}
		r.budget.deposit()
		m, ok := r.cat.Lookup(req.Spec().Procedure)
		if !ok || !m.Retryable() || r.maxAttempts <= 1 {
			return next(ctx, req)
		}
		ctx = withAttemptLog(ctx, &attemptLog{})
		for attempt := 1; ; attempt++ {
			resp, err := next(ctx, req)
			if err == nil || attempt >= r.maxAttempts || connect.CodeOf(err) != connect.CodeUnavailable || ctx.Err() != nil {
				return resp, err
			}
			delay := r.delay(attempt)
			if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= delay {
				return resp, err
			}
			if !r.budget.withdraw() {
				r.logger.Debug("retry budget exhausted", "procedure", req.Spec().Procedure, "attempt", attempt, "err", err)
				return resp, err
			}
			r.logger.Debug("retrying", "procedure", req.Spec().Procedure, "attempt", attempt, "delay", delay, "err", err)
			if !sleep(ctx, delay) {
				return resp, err
			}
		}
	}
}

func (r *retryInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (r *retryInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// delay is the backoff before the retry that follows attempt: exponential
// with full jitter, so clients failing together do not retry together.
func (r *retryInterceptor) delay(attempt int) time.Duration {
	d := r.backoff << min(attempt-1, 20)
	if d <= 0 || d > r.backoffMax {
		d = r.backoffMax
	}
	return rand.N(d + 1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// budgetWindow is how long calls and retries count toward the budget, in
// one-second slots (Finagle's RetryBudget TTL).
const budgetWindow = 10

// retryBudget allows, over the last budgetWindow seconds, at most
// MinRetries per second plus RetryBudgetRatio of the calls made. During an
// outage every call fails, and without a budget each would be sent
// MaxAttempts times: the budget keeps the extra load to the ratio.
type retryBudget struct {
	now     func() time.Time
	ratio   float64
	reserve float64

	mu    sync.Mutex
	slots [budgetWindow]budgetSlot
}

type budgetSlot struct {
	sec            int64
	calls, retries int64
}

func newRetryBudget(opts Options, now func() time.Time) *retryBudget {
	return &retryBudget{
		now:     now,
		ratio:   opts.RetryBudgetRatio,
		reserve: float64(opts.MinRetries) * budgetWindow,
	}
}

func (b *retryBudget) slot(sec int64) *budgetSlot {
	s := &b.slots[sec%budgetWindow]
	if s.sec != sec {
		*s = budgetSlot{sec: sec}
	}
	return s
}

// deposit counts a call.
func (b *retryBudget) deposit() {
	sec := b.now().Unix()
	b.mu.Lock()
	b.slot(sec).calls++
	b.mu.Unlock()
}

// withdraw takes one retry from the budget if the window allows it.
func (b *retryBudget) withdraw() bool {
	sec := b.now().Unix()
	b.mu.Lock()
	defer b.mu.Unlock()
	var calls, retries int64
	for _, s := range b.slots {
		if s.sec > sec-budgetWindow && s.sec <= sec {
			calls += s.calls
			retries += s.retries
		}
	}
	if float64(retries+1) > b.reserve+b.ratio*float64(calls) {
		return false
	}
	b.slot(sec).retries++
	return true
}

// attemptLog is the endpoints earlier attempts of one call used; the retry
// interceptor puts it in the context so a retry goes elsewhere if it can.
type attemptLog struct {
	mu   sync.Mutex
	used []*endpoint
}

type attemptLogKey struct{}

func withAttemptLog(ctx context.Context, l *attemptLog) context.Context {
	return context.WithValue(ctx, attemptLogKey{}, l)
}

func attemptsFrom(ctx context.Context) *attemptLog {
	l, _ := ctx.Value(attemptLogKey{}).(*attemptLog)
	return l
}

func (l *attemptLog) add(ep *endpoint) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.used = append(l.used, ep)
	l.mu.Unlock()
}

// prefer filters cands in place to those not used before, unless that
// leaves none.
func (l *attemptLog) prefer(cands []*endpoint) []*endpoint {
	if l == nil {
		return cands
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.used) == 0 {
		return cands
	}
	fresh := 0
	for _, ep := range cands {
		if !slices.Contains(l.used, ep) {
			fresh++
		}
	}
	if fresh == 0 || fresh == len(cands) {
		return cands
	}
	out := cands[:0]
	for _, ep := range cands {
		if !slices.Contains(l.used, ep) {
			out = append(out, ep)
		}
	}
	return out
}
