// Package election runs work in exactly one process at a time, chosen by an
// etcd election (concurrency.Election): the worker's scheduler and the
// monitor's notifier. A leader that dies is replaced once its session TTL
// runs out.
package election

import (
	"context"
	"errors"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Config names one election and this candidate.
type Config struct {
	// Prefix is the election's etcd key prefix, e.g.
	// "/streamgate/worker/scheduler".
	Prefix string
	// Name identifies this candidate (the instance id); Leader returns it.
	Name string
	// TTL of the candidate's session: how long a dead leader keeps the
	// role. Whole seconds, at least one.
	TTL time.Duration
}

// Run campaigns until ctx is done and calls lead each time this candidate
// is elected. lead's ctx ends when leadership is lost (the session expired)
// or ctx is done; lead should return then. A failed campaign or a lost
// session is logged and retried after a second.
func Run(ctx context.Context, etcd *clientv3.Client, cfg Config, logger *slog.Logger, lead func(ctx context.Context)) {
	for ctx.Err() == nil {
		if err := once(ctx, etcd, cfg, lead); err != nil && ctx.Err() == nil {
			logger.WarnContext(ctx, "election: lost or failed leadership; campaigning again", "election", cfg.Prefix, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

var errSessionExpired = errors.New("etcd session expired")

func once(ctx context.Context, etcd *clientv3.Client, cfg Config, lead func(ctx context.Context)) error {
	sess, err := concurrency.NewSession(etcd, concurrency.WithTTL(max(1, int(cfg.TTL.Seconds()))), concurrency.WithContext(ctx))
	if err != nil {
		return err
	}
	defer sess.Close()
	el := concurrency.NewElection(sess, cfg.Prefix)
	if err := el.Campaign(ctx, cfg.Name); err != nil {
		return err
	}
	defer func() {
		// Resign at once rather than leave the role to the TTL.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = el.Resign(rctx)
	}()
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-sess.Done():
			cancel(errSessionExpired)
		case <-lctx.Done():
		}
	}()
	lead(lctx)
	if errors.Is(context.Cause(lctx), errSessionExpired) {
		return errSessionExpired
	}
	return nil
}

// Leader returns the name of the current leader of the election under
// prefix, or "" when there is none.
func Leader(ctx context.Context, etcd *clientv3.Client, prefix string) (string, error) {
	res, err := etcd.Get(ctx, prefix+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", err
	}
	if len(res.Kvs) == 0 {
		return "", nil
	}
	return string(res.Kvs[0].Value), nil
}
