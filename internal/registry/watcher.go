package registry

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

const (
	reloadInitial = 100 * time.Millisecond
	reloadMax     = 5 * time.Second
)

// Watcher keeps an in-memory copy of every instance under a prefix, fed by
// one etcd watch: callers read it without touching etcd, and learn of
// changes from Changes instead of polling.
type Watcher struct {
	client *clientv3.Client
	prefix string
	logger *slog.Logger

	mu       sync.RWMutex
	services map[string]map[string]Instance // service -> ID -> instance

	subsMu  sync.Mutex
	subs    map[int]chan struct{}
	nextSub int

	runMu  sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewWatcher returns a Watcher of prefix (DefaultPrefix if empty); it reads
// nothing until Start.
func NewWatcher(client *clientv3.Client, prefix string, logger *slog.Logger) *Watcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Watcher{
		client:   client,
		prefix:   normalizePrefix(prefix),
		logger:   logger,
		services: map[string]map[string]Instance{},
		subs:     map[int]chan struct{}{},
	}
}

// Start loads every instance under the prefix, then follows changes with a
// watch from the next revision, so no change between the two is missed. It
// returns once the initial load is done. If the watch fails (compaction, lost
// leader) the watcher loads the prefix again and watches from there. The
// watch stops when ctx is done or on Close.
func (w *Watcher) Start(ctx context.Context) error {
	w.runMu.Lock()
	defer w.runMu.Unlock()
	if w.done != nil {
		return errors.New("registry: watcher already started")
	}
	rev, err := w.load(ctx)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	w.cancel = cancel
	w.done = make(chan struct{})
	go w.run(runCtx, rev, w.done)
	return nil
}

// Close stops the watch and waits for it to end. Lists stay readable, frozen
// at their last state. It is idempotent.
func (w *Watcher) Close() {
	w.runMu.Lock()
	cancel, done := w.cancel, w.done
	w.runMu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// Instances returns the known instances of service, sorted by ID. The
// slice is a copy the caller may keep.
func (w *Watcher) Instances(service string) []Instance {
	w.mu.RLock()
	byID := w.services[service]
	out := make([]Instance, 0, len(byID))
	for _, in := range byID {
		out = append(out, in.clone())
	}
	w.mu.RUnlock()
	slices.SortFunc(out, func(a, b Instance) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// All returns every known instance, sorted by service then ID, as a copy.
func (w *Watcher) All() []Instance {
	w.mu.RLock()
	var out []Instance
	for _, byID := range w.services {
		for _, in := range byID {
			out = append(out, in.clone())
		}
	}
	w.mu.RUnlock()
	slices.SortFunc(out, func(a, b Instance) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// Changes subscribes to change signals. The channel has a buffer of one and
// signals are coalesced: after a receive, read the current state with
// Instances or All. The returned func unsubscribes; the channel is never
// closed.
func (w *Watcher) Changes() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.subsMu.Lock()
	id := w.nextSub
	w.nextSub++
	w.subs[id] = ch
	w.subsMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			w.subsMu.Lock()
			delete(w.subs, id)
			w.subsMu.Unlock()
		})
	}
}

// WaitFor blocks until at least n instances of service are known, or ctx is
// done.
func (w *Watcher) WaitFor(ctx context.Context, service string, n int) error {
	ch, unsubscribe := w.Changes()
	defer unsubscribe()
	for {
		if w.count(service) >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("registry: waiting for %d instances of %q (have %d): %w", n, service, w.count(service), context.Cause(ctx))
		}
	}
}

func (w *Watcher) count(service string) int {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return len(w.services[service])
}

func (w *Watcher) notify() {
	w.subsMu.Lock()
	defer w.subsMu.Unlock()
	for _, ch := range w.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// load replaces the state with a fresh read of the prefix and returns the
// revision it was read at.
func (w *Watcher) load(ctx context.Context) (int64, error) {
	resp, err := w.client.Get(ctx, w.prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("registry: load %s: %w", w.prefix, err)
	}
	services := map[string]map[string]Instance{}
	for _, kv := range resp.Kvs {
		if in, ok := w.decode(kv.Key, kv.Value); ok {
			put(services, in)
		}
	}
	w.mu.Lock()
	w.services = services
	w.mu.Unlock()
	w.notify()
	return resp.Header.Revision, nil
}

// run watches from rev+1 until ctx is done, reloading when the watch fails.
func (w *Watcher) run(ctx context.Context, rev int64, done chan<- struct{}) {
	defer close(done)
	for {
		err := w.watch(ctx, rev)
		if ctx.Err() != nil {
			return
		}
		w.logger.Warn("registry watch ended; reloading", "prefix", w.prefix, "err", err)
		backoff := reloadInitial
		for {
			var lerr error
			if rev, lerr = w.load(ctx); lerr == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			w.logger.Warn("registry reload failed", "prefix", w.prefix, "err", lerr, "retry_in", backoff)
			if !sleep(ctx, jitter(backoff)) {
				return
			}
			backoff = min(2*backoff, reloadMax)
		}
	}
}

// watch applies events from rev+1 until the watch fails or ctx is done.
func (w *Watcher) watch(ctx context.Context, rev int64) error {
	// WithRequireLeader: a member cut off from its cluster cancels the watch
	// instead of silently delivering nothing.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range w.client.Watch(wctx, w.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
		if err := wr.Err(); err != nil {
			return err
		}
		if len(wr.Events) == 0 {
			continue
		}
		w.mu.Lock()
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				w.remove(string(ev.Kv.Key))
				continue
			}
			if in, ok := w.decode(ev.Kv.Key, ev.Kv.Value); ok {
				put(w.services, in)
			} else {
				w.remove(string(ev.Kv.Key))
			}
		}
		w.mu.Unlock()
		w.notify()
	}
	return errors.New("watch channel closed")
}

// remove deletes the instance stored under key; w.mu must be held.
func (w *Watcher) remove(key string) {
	service, id, ok := parseKey(w.prefix, key)
	if !ok {
		return
	}
	if byID := w.services[service]; byID != nil {
		delete(byID, id)
		if len(byID) == 0 {
			delete(w.services, service)
		}
	}
}

// decode parses one registry entry. The key is authoritative for service
// and ID; a value that is not an Instance is logged and skipped.
func (w *Watcher) decode(key, value []byte) (Instance, bool) {
	service, id, ok := parseKey(w.prefix, string(key))
	if !ok {
		w.logger.Warn("registry: ignoring key outside the <service>/<id> layout", "key", string(key))
		return Instance{}, false
	}
	var in Instance
	if err := json.Unmarshal(value, &in); err != nil {
		w.logger.Warn("registry: ignoring undecodable instance", "key", string(key), "err", err)
		return Instance{}, false
	}
	in.Service, in.ID = service, id
	return in, true
}

func put(services map[string]map[string]Instance, in Instance) {
	byID := services[in.Service]
	if byID == nil {
		byID = map[string]Instance{}
		services[in.Service] = byID
	}
	byID[in.ID] = in
}
