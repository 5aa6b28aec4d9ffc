package edge

import (
	"math"
	"sync"
	"time"
)

// limiter keeps one token bucket per key (a client IP or a wallet). Idle
// buckets are refilled, so they are dropped once full to bound memory.
type limiter struct {
	limit RateLimit
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(l RateLimit, now func() time.Time) *limiter {
	return &limiter{limit: l, now: now, buckets: map[string]*bucket{}}
}

// allow takes one token from key's bucket. When none is left it returns
// false and how long until one is.
func (l *limiter) allow(key string) (bool, time.Duration) {
	if l == nil || l.limit.Rate < 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: float64(l.limit.Burst), last: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = math.Min(float64(l.limit.Burst), b.tokens+el.Seconds()*l.limit.Rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	if l.limit.Rate == 0 {
		return false, time.Hour
	}
	return false, time.Duration((1 - b.tokens) / l.limit.Rate * float64(time.Second))
}

// sweep drops, at most once a minute, the buckets that have refilled: they
// are indistinguishable from new ones.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < time.Minute {
		return
	}
	l.lastSweep = now
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.limit.Rate >= float64(l.limit.Burst) {
			delete(l.buckets, k)
		}
	}
}

// retryAfterSeconds rounds a delay up to whole seconds, at least 1, for
// the Retry-After header.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
