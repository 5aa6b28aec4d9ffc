package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// singlePrefix holds one etcd lock per service whose state lives on the
// instance's own disk.
const singlePrefix = "/streamgate/single/"

// localState says why name cannot run twice with these settings, or ""
// when its state is shared or it keeps none. Upload's state is its records
// and its tus partial uploads: both are shared only on PostgreSQL with an
// S3 media store (the tus uploads then live in its bucket).
func localState(name string, s Settings) string {
	pg := s.postgresURL() != ""
	switch name {
	case "metadata", "auth":
		if !pg {
			return "keeps its state in SQLite under its data dir; several instances need one PostgreSQL database (--database-url postgres://...)"
		}
	case "upload":
		if !pg || !strings.HasPrefix(s.BlobURL, "s3://") {
			return "keeps its upload records or its tus bytes under its data dir; several instances need one PostgreSQL database (--database-url postgres://...) and an S3 media store (--blob-url s3://...), which holds the partial uploads"
		}
	}
	return ""
}

// claimSingle makes name the only instance of its service in the cluster
// while its state is local: a second one is refused at start-up, not left
// to corrupt or split that state. The claim is an etcd lock on a lease, so
// a crashed holder frees it within ttl; a restart waits that long for it.
func claimSingle(ctx context.Context, etcd *clientv3.Client, name, instanceID, why string, ttl time.Duration) (release func(), err error) {
	sess, err := concurrency.NewSession(etcd, concurrency.WithTTL(max(1, int(ttl.Seconds()))), concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		return nil, fmt.Errorf("etcd session: %w", err)
	}
	key := singlePrefix + name
	mu := concurrency.NewMutex(sess, key)
	deadline := time.Now().Add(ttl + 2*time.Second)
	for {
		err = mu.TryLock(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, concurrency.ErrLocked) || time.Now().After(deadline) {
			holder := "unknown"
			if res, gerr := etcd.Get(ctx, key+"/holder"); gerr == nil && len(res.Kvs) > 0 {
				holder = string(res.Kvs[0].Value)
			}
			_ = sess.Close()
			if errors.Is(err, concurrency.ErrLocked) {
				return nil, fmt.Errorf("another %s instance is running (%s): %s %s", name, holder, name, why)
			}
			return nil, fmt.Errorf("claim %s: %w", key, err)
		}
		select {
		case <-ctx.Done():
			_ = sess.Close()
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	host, _ := os.Hostname()
	if _, err := etcd.Put(ctx, key+"/holder", instanceID+" on "+host, clientv3.WithLease(sess.Lease())); err != nil {
		_ = sess.Close()
		return nil, fmt.Errorf("claim %s: %w", key, err)
	}
	var once sync.Once
	return func() { once.Do(func() { _ = sess.Close() }) }, nil
}
