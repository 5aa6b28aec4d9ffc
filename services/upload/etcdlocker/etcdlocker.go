// Package etcdlocker is a tusd handler.Locker shared by every instance of
// the upload service through etcd, so that one upload is written by one
// request at a time whichever instance receives it.
//
// Each lock is a concurrency.Mutex under Prefix+<upload id>, bound to the
// lease of the locker's session: an instance that dies (or loses etcd for
// longer than the TTL) frees its locks when the lease expires. Within one
// process the session is shared, and etcd's mutex is not exclusive between
// holders of one session, so a process first takes the lock in memory
// (tusd's memorylocker), then in etcd.
//
// requestRelease, as tusd's memorylocker and filelocker do it: a request
// that finds the lock held asks the holder to let go (tusd then ends the
// holder's PATCH with "upload interrupted"), so a client resuming after a
// broken connection is not kept waiting by its own dead request. Across
// instances the waiter writes a release request <Prefix minus "/">.release/
// <id>/<lease>, bound to its own lease and deleted once it holds the lock
// or gives up; the holder watches that prefix for as long as it holds the
// lock. In-process waiters reach the holder through the memorylocker.
//
// The holder is also asked to release when its session ends (the lease
// expired or was revoked): from then on another instance may hold the
// lock. A holder cut off from etcd learns that only when its client sees
// the lease gone; there is no fencing token to stop a write already under
// way, so TTL should exceed the time a PATCH takes to notice cancellation.
package etcdlocker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// DefaultPrefix is where upload locks live in etcd.
const DefaultPrefix = "/streamgate/locks/upload/"

// Config configures a Locker.
type Config struct {
	// Prefix of the lock keys; default DefaultPrefix. It must end in "/".
	Prefix string
	// TTL is the lease of the locker's session: how long the locks of a
	// crashed instance outlive it. Whole seconds; default 10s.
	TTL time.Duration
	// UnlockTimeout bounds the etcd call of Unlock; default 5s. An Unlock
	// that fails drops the session, so the lock frees within TTL.
	UnlockTimeout time.Duration
}

// Locker hands out upload locks held in etcd. Close it when the upload
// service has stopped.
type Locker struct {
	cli    *clientv3.Client
	cfg    Config
	logger *slog.Logger
	local  *memorylocker.MemoryLocker

	ctx    context.Context // ends at Close: sessions' keep-alives and holders' watches
	cancel context.CancelFunc

	mu     sync.Mutex
	sess   *concurrency.Session
	closed bool
}

// New returns a Locker using cli. The session is created on the first lock.
func New(cli *clientv3.Client, cfg Config, logger *slog.Logger) (*Locker, error) {
	if logger == nil {
		return nil, errors.New("etcdlocker: nil logger")
	}
	if cli == nil {
		return nil, errors.New("etcdlocker: nil etcd client")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if !strings.HasSuffix(cfg.Prefix, "/") || cfg.Prefix == "/" {
		return nil, fmt.Errorf("etcdlocker: Prefix %q must end in / and name a folder", cfg.Prefix)
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 10 * time.Second
	}
	if cfg.UnlockTimeout <= 0 {
		cfg.UnlockTimeout = 5 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Locker{cli: cli, cfg: cfg, logger: logger, local: memorylocker.New(), ctx: ctx, cancel: cancel}, nil
}

// UseIn makes l the locker of composer.
func (l *Locker) UseIn(composer *tusd.StoreComposer) { composer.UseLocker(l) }

// NewLock returns an unlocked lock for upload id.
func (l *Locker) NewLock(id string) (tusd.Lock, error) {
	if id == "" || strings.Contains(id, "/") {
		return nil, fmt.Errorf("etcdlocker: invalid upload id %q", id)
	}
	return &lock{l: l, id: id}, nil
}

// Close revokes the session's lease, which frees every lock still held,
// and stops the keep-alive. Locks taken afterwards fail.
func (l *Locker) Close() error {
	l.mu.Lock()
	l.closed = true
	sess := l.sess
	l.sess = nil
	l.mu.Unlock()
	var err error
	if sess != nil {
		err = sess.Close()
	}
	l.cancel()
	return err
}

// ttlSeconds is the lease TTL in whole seconds, at least 1.
func (l *Locker) ttlSeconds() int {
	return max(1, int((l.cfg.TTL+time.Second-1)/time.Second))
}

// session returns the live session, creating one (a new lease) when there
// is none or the last one ended.
func (l *Locker) session(ctx context.Context) (*concurrency.Session, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("etcdlocker: closed")
	}
	if l.sess != nil {
		select {
		case <-l.sess.Done():
		default:
			return l.sess, nil
		}
	}
	lease, err := l.cli.Grant(ctx, int64(l.ttlSeconds()))
	if err != nil {
		return nil, fmt.Errorf("etcdlocker: grant lease: %w", err)
	}
	s, err := concurrency.NewSession(l.cli, concurrency.WithLease(lease.ID), concurrency.WithTTL(l.ttlSeconds()), concurrency.WithContext(l.ctx))
	if err != nil {
		return nil, fmt.Errorf("etcdlocker: session: %w", err)
	}
	l.sess = s
	return s, nil
}

// drop abandons sess (its lease expires within TTL, freeing its locks) if
// it is still the current session.
func (l *Locker) drop(sess *concurrency.Session) {
	l.mu.Lock()
	if l.sess == sess {
		l.sess = nil
	}
	l.mu.Unlock()
	sess.Orphan()
}

func (l *Locker) mutexPrefix(id string) string { return l.cfg.Prefix + id }

// releasePrefix is where waiters ask the holder of id's lock to let go.
func (l *Locker) releasePrefix(id string) string {
	return strings.TrimSuffix(l.cfg.Prefix, "/") + ".release/" + id + "/"
}

// lock is one request's hold on an upload.
type lock struct {
	l  *Locker
	id string

	local tusd.Lock
	sess  *concurrency.Session
	m     *concurrency.Mutex
	stop  context.CancelFunc
	done  chan struct{}
}

// Lock takes the upload's lock, asking its holder, here or on another
// instance, to release it. It returns tusd.ErrLockTimeout when ctx ends
// first. requestRelease is called when another request wants the lock or
// when the lock may have been lost with the session.
func (k *lock) Lock(ctx context.Context, requestRelease func()) error {
	local, err := k.l.local.NewLock(k.id)
	if err != nil {
		return err
	}
	if err := local.Lock(ctx, requestRelease); err != nil {
		return err
	}
	if err := k.lockShared(ctx, requestRelease); err != nil {
		_ = local.Unlock()
		if ctx.Err() != nil {
			return tusd.ErrLockTimeout
		}
		return err
	}
	k.local = local
	return nil
}

func (k *lock) lockShared(ctx context.Context, requestRelease func()) error {
	sess, err := k.l.session(ctx)
	if err != nil {
		return err
	}
	m := concurrency.NewMutex(sess, k.l.mutexPrefix(k.id))
	err = m.TryLock(ctx)
	if errors.Is(err, concurrency.ErrLocked) {
		err = k.wait(ctx, sess, m)
	}
	if err != nil {
		return fmt.Errorf("etcdlocker: lock %s: %w", k.id, err)
	}
	k.sess, k.m = sess, m
	wctx, stop := context.WithCancel(k.l.ctx)
	k.stop, k.done = stop, make(chan struct{})
	go func() {
		defer close(k.done)
		k.watchRelease(wctx, sess, requestRelease)
	}()
	return nil
}

// wait queues for m after asking its holder to release it.
func (k *lock) wait(ctx context.Context, sess *concurrency.Session, m *concurrency.Mutex) error {
	req := k.l.releasePrefix(k.id) + strconv.FormatInt(int64(sess.Lease()), 16)
	if _, err := k.l.cli.Put(ctx, req, "", clientv3.WithLease(sess.Lease())); err != nil {
		return err
	}
	defer func() {
		// Also when ctx ended; the lease would remove it otherwise, but
		// only with the whole session.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), k.l.cfg.UnlockTimeout)
		defer cancel()
		if _, err := k.l.cli.Delete(dctx, req); err != nil {
			k.l.logger.Warn("etcdlocker: delete release request", "upload_id", k.id, "err", err)
		}
	}()
	return m.Lock(ctx)
}

// watchRelease calls requestRelease when another instance asks for the
// lock (a release request exists or appears) or the session ends, until
// ctx ends (Unlock).
func (k *lock) watchRelease(ctx context.Context, sess *concurrency.Session, requestRelease func()) {
	pfx := k.l.releasePrefix(k.id)
	for ctx.Err() == nil {
		opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithFilterDelete()}
		resp, err := k.l.cli.Get(ctx, pfx, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err == nil {
			if resp.Count > 0 {
				requestRelease()
			}
			opts = append(opts, clientv3.WithRev(resp.Header.Revision+1))
		}
		if !k.follow(ctx, sess, pfx, opts, requestRelease) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// follow watches pfx until ctx or the session ends (false) or the watch
// breaks (true: look again).
func (k *lock) follow(ctx context.Context, sess *concurrency.Session, pfx string, opts []clientv3.OpOption, requestRelease func()) bool {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := k.l.cli.Watch(clientv3.WithRequireLeader(wctx), pfx, opts...)
	for {
		select {
		case <-ctx.Done():
			return false
		case <-sess.Done():
			requestRelease()
			return false
		case wr, ok := <-wch:
			if !ok || wr.Err() != nil {
				return true // compacted, or no leader
			}
			if len(wr.Events) > 0 {
				requestRelease()
			}
		}
	}
}

// Unlock releases the lock. If etcd cannot be told, the session is dropped
// so that the lock frees when its lease expires.
func (k *lock) Unlock() error {
	if k.m == nil {
		return nil
	}
	k.stop()
	<-k.done
	ctx, cancel := context.WithTimeout(context.Background(), k.l.cfg.UnlockTimeout)
	defer cancel()
	err := k.m.Unlock(ctx)
	if err != nil {
		k.l.drop(k.sess)
		err = fmt.Errorf("etcdlocker: unlock %s (its lease expires within %s): %w", k.id, k.l.cfg.TTL, err)
	}
	k.m = nil
	_ = k.local.Unlock()
	return err
}
