package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrDuplicateInstance means another live lease holds this instance's key:
// two processes were started with the same instance ID.
var ErrDuplicateInstance = errors.New("registry: instance key is held by another lease")

// RegistrarOptions tunes a Registrar; the zero value is the default.
type RegistrarOptions struct {
	// Prefix is the registry prefix; default DefaultPrefix.
	Prefix string
	// TTL is the lease TTL, how long a dead instance stays listed; default
	// 10s. etcd works in whole seconds, so it is rounded up to at least 1s.
	TTL time.Duration
}

const (
	defaultTTL        = 10 * time.Second
	reregisterInitial = 100 * time.Millisecond
	reregisterMax     = 5 * time.Second
	revokeTimeout     = 2 * time.Second
)

// Registrar keeps one instance registered for as long as it runs: the key
// is bound to a lease it keeps alive, and when the registration is lost
// (lease expired or revoked, key deleted, etcd restarted empty) it registers
// again with a new lease.
type Registrar struct {
	client *clientv3.Client
	inst   Instance
	key    string
	ttl    int64
	logger *slog.Logger

	mu      sync.Mutex
	started bool
	stopped bool
	lease   clientv3.LeaseID // lease the key is (or may be) bound to; 0 if none
	cancel  context.CancelFunc
	done    chan struct{}
}

// NewRegistrar prepares the registration of inst; nothing is written until
// Register. The instance ID must be unique per process (add a random suffix
// to a host name), or Register fails with ErrDuplicateInstance while the other
// process lives.
func NewRegistrar(client *clientv3.Client, inst Instance, opts RegistrarOptions, logger *slog.Logger) *Registrar {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ttl := opts.TTL
	if ttl <= 0 {
		ttl = defaultTTL
	}
	secs := int64((ttl + time.Second - 1) / time.Second)
	inst = inst.clone()
	return &Registrar{
		client: client,
		inst:   inst,
		key:    Key(opts.Prefix, inst.Service, inst.ID),
		ttl:    secs,
		logger: logger.With("service", inst.Service, "instance", inst.ID),
	}
}

// Key is the etcd key this registrar writes.
func (r *Registrar) Key() string { return r.key }

// Register writes the instance under a new lease, synchronously, so a
// returned nil means other instances can find it. It then keeps the lease
// alive in a goroutine, and registers again whenever the registration is
// lost, with backoff, until Deregister. A failed Register may be retried.
func (r *Registrar) Register(ctx context.Context) error {
	if err := r.inst.validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.stopped:
		return errors.New("registry: Register after Deregister")
	case r.started:
		return errors.New("registry: already registered")
	}
	if r.inst.StartTime.IsZero() {
		r.inst.StartTime = time.Now().UTC()
	}
	lease, rev, err := r.put(ctx, 0)
	if err != nil {
		return err
	}
	r.lease = lease
	r.started = true
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	r.done = make(chan struct{})
	go r.run(loopCtx, lease, rev, r.done)
	r.logger.Info("registered", "key", r.key, "address", r.inst.Address, "lease", fmt.Sprintf("%x", int64(lease)))
	return nil
}

// Deregister stops keeping the registration alive and revokes the lease, so
// the key disappears at once rather than after the TTL. It is idempotent; if
// the revoke fails (etcd unreachable) it returns the error, and the key
// still disappears when the lease expires.
func (r *Registrar) Deregister(ctx context.Context) error {
	r.mu.Lock()
	r.stopped = true
	cancel, done := r.cancel, r.done
	r.cancel = nil
	r.mu.Unlock()
	if cancel != nil {
		cancel()
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("registry: deregister %s: %w", r.key, context.Cause(ctx))
		}
	}

	r.mu.Lock()
	lease := r.lease
	r.mu.Unlock()
	if lease == 0 {
		return nil
	}
	if _, err := r.client.Revoke(ctx, lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("registry: deregister %s: revoke lease: %w", r.key, err)
	}
	r.mu.Lock()
	if r.lease == lease {
		r.lease = 0
	}
	r.mu.Unlock()
	r.logger.Info("deregistered", "key", r.key)
	return nil
}

// put binds the key to a new lease in one transaction that refuses to
// overwrite another instance's key. old is the lease this registrar held
// before (0 at first): a key still bound to it is ours to take over. It
// returns the new lease and the revision of the put.
func (r *Registrar) put(ctx context.Context, old clientv3.LeaseID) (clientv3.LeaseID, int64, error) {
	value, err := json.Marshal(r.inst)
	if err != nil {
		return 0, 0, fmt.Errorf("registry: encode instance: %w", err)
	}
	grant, err := r.client.Grant(ctx, r.ttl)
	if err != nil {
		return 0, 0, fmt.Errorf("registry: grant lease: %w", err)
	}
	lease := grant.ID
	rev, err := r.bind(ctx, lease, old, string(value))
	if err != nil {
		// The put may have landed before a cancel; revoking the new lease
		// removes whatever it bound.
		r.revokeQuietly(ctx, lease)
		return 0, 0, err
	}
	if old != 0 && old != lease {
		r.revokeQuietly(ctx, old)
	}
	return lease, rev, nil
}

func (r *Registrar) bind(ctx context.Context, lease, old clientv3.LeaseID, value string) (int64, error) {
	putOp := clientv3.OpPut(r.key, value, clientv3.WithLease(lease))
	resp, err := r.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(r.key), "=", 0)).
		Then(putOp).
		Else(clientv3.OpGet(r.key)).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("registry: put %s: %w", r.key, err)
	}
	if resp.Succeeded {
		return resp.Header.Revision, nil
	}
	var holder int64
	if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
		holder = kvs[0].Lease
	}
	if old == 0 || holder != int64(old) {
		return 0, fmt.Errorf("%w: %s (lease %x)", ErrDuplicateInstance, r.key, holder)
	}
	resp, err = r.client.Txn(ctx).
		If(clientv3.Compare(clientv3.LeaseValue(r.key), "=", old)).
		Then(putOp).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("registry: put %s: %w", r.key, err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("registry: put %s: key changed while taking it over", r.key)
	}
	return resp.Header.Revision, nil
}

func (r *Registrar) revokeQuietly(ctx context.Context, lease clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revokeTimeout)
	defer cancel()
	if _, err := r.client.Revoke(ctx, lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		r.logger.Debug("revoke of unused lease failed; it expires by itself", "lease", fmt.Sprintf("%x", int64(lease)), "err", err)
	}
}

// run keeps the registration alive until ctx is canceled (Deregister).
func (r *Registrar) run(ctx context.Context, lease clientv3.LeaseID, rev int64, done chan<- struct{}) {
	defer close(done)
	for {
		reason := r.hold(ctx, lease, rev)
		if ctx.Err() != nil {
			return
		}
		r.logger.Warn("registration lost; registering again", "key", r.key, "reason", reason)
		backoff := reregisterInitial
		for {
			newLease, newRev, err := r.put(ctx, lease)
			if err == nil {
				r.mu.Lock()
				r.lease = newLease
				r.mu.Unlock()
				lease, rev = newLease, newRev
				r.logger.Info("registered again", "key", r.key, "lease", fmt.Sprintf("%x", int64(lease)))
				break
			}
			if ctx.Err() != nil {
				return
			}
			r.logger.Warn("register again failed", "key", r.key, "err", err, "retry_in", backoff)
			if !sleep(ctx, jitter(backoff)) {
				return
			}
			backoff = min(2*backoff, reregisterMax)
		}
	}
}

var (
	errLeaseLost   = errors.New("lease keepalive ended (lease expired, revoked or unknown to etcd)")
	errKeyDeleted  = errors.New("key deleted")
	errKeyReplaced = errors.New("key bound to another lease")
)

// hold keeps lease alive and watches the key from rev+1. It returns why the
// registration was lost, or nil when ctx is done.
func (r *Registrar) hold(ctx context.Context, lease clientv3.LeaseID, rev int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ka, err := r.client.KeepAlive(ctx, lease)
	if err != nil {
		return fmt.Errorf("keepalive: %w", err)
	}
	for {
		nextRev, lost := r.watchKey(ctx, ka, lease, rev)
		if lost != nil || ctx.Err() != nil {
			return lost
		}
		// The watch broke (compaction, no leader): check the key directly
		// and watch again from there.
		resp, err := r.client.Get(ctx, r.key)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			r.logger.Debug("registration check failed", "key", r.key, "err", err)
			if !sleep(ctx, jitter(reregisterInitial)) {
				return nil
			}
			rev = nextRev
		case len(resp.Kvs) == 0:
			return errKeyDeleted
		case resp.Kvs[0].Lease != int64(lease):
			return errKeyReplaced
		default:
			rev = resp.Header.Revision
		}
	}
}

// watchKey drains keepalive responses and watches the key. It returns the
// last revision seen, and why the registration was lost, or nil if the watch
// ended for another reason.
func (r *Registrar) watchKey(ctx context.Context, ka <-chan *clientv3.LeaseKeepAliveResponse, lease clientv3.LeaseID, rev int64) (int64, error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := r.client.Watch(wctx, r.key, clientv3.WithRev(rev+1))
	for {
		select {
		case _, ok := <-ka:
			if !ok {
				if ctx.Err() != nil {
					return rev, nil
				}
				return rev, errLeaseLost
			}
		case wr, ok := <-wch:
			if !ok {
				return rev, nil
			}
			if err := wr.Err(); err != nil {
				r.logger.Debug("registration watch ended", "key", r.key, "err", err)
				return rev, nil
			}
			for _, ev := range wr.Events {
				switch {
				case ev.Type == clientv3.EventTypeDelete:
					return rev, errKeyDeleted
				case ev.Kv.Lease != int64(lease):
					return rev, errKeyReplaced
				}
			}
			rev = wr.Header.Revision
		}
	}
}

// jitter spreads d over [d/2, d) so instances that lost their leases together
// do not come back in lockstep.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// sleep waits d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
