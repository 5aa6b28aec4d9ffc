package monitor

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// notifyElection is the etcd election prefix of the monitor instance that
// announces alert transitions.
const notifyElection = "/streamgate/monitor/notifier"

// WithNotifyLeader makes alert notifications (alert.transitioned) come from
// one monitor instance at a time, elected through etcd under name: every
// instance evaluates the rules (so ListAlerts and WatchSystemHealth answer
// anywhere), but only the leader publishes, so several monitors do not
// announce one outage several times. A transition that happens during a
// handover (at most the session TTL, 10 s) may go unannounced; the alert
// itself stays listed. Without this option every instance publishes.
func WithNotifyLeader(etcd *clientv3.Client, name string) Option {
	return func(s *Service) { s.notifier = &notifyLeader{etcd: etcd, name: name, ttl: 10 * time.Second} }
}

type notifyLeader struct {
	etcd    *clientv3.Client
	name    string
	ttl     time.Duration
	leading atomic.Bool
}

// run campaigns until ctx is done; leading is true while this instance
// holds the election.
func (l *notifyLeader) run(ctx context.Context, s *Service) {
	for ctx.Err() == nil {
		if err := l.leadOnce(ctx); err != nil && ctx.Err() == nil {
			s.logger.WarnContext(ctx, "monitor notifier: lost or failed leadership; campaigning again", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (l *notifyLeader) leadOnce(ctx context.Context) error {
	sess, err := concurrency.NewSession(l.etcd, concurrency.WithTTL(int(l.ttl.Seconds())), concurrency.WithContext(ctx))
	if err != nil {
		return err
	}
	defer sess.Close()
	el := concurrency.NewElection(sess, notifyElection)
	if err := el.Campaign(ctx, l.name); err != nil {
		return err
	}
	l.leading.Store(true)
	defer l.leading.Store(false)
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = el.Resign(rctx)
	}()
	select {
	case <-ctx.Done():
		return nil
	case <-sess.Done():
		return errors.New("etcd session expired")
	}
}

// publishes reports whether this instance announces transitions now.
func (l *notifyLeader) publishes() bool { return l == nil || l.leading.Load() }
