package monitor

import (
	"context"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/streamgate/streamgate/internal/election"
)

// NotifyElection is the etcd election prefix of the monitor instance that
// announces alert transitions.
const NotifyElection = "/streamgate/monitor/notifier"

// WithNotifyLeader makes alert notifications (alert.transitioned) come from
// one monitor instance at a time, elected through etcd under name: every
// instance evaluates the rules (so ListAlerts and WatchSystemHealth answer
// anywhere), but only the leader publishes, so several monitors do not
// announce one outage several times. A transition that happens during a
// handover (at most the session TTL, 10 s) may go unannounced; the alert
// itself stays listed. Without this option every instance publishes.
func WithNotifyLeader(etcd *clientv3.Client, name string) Option {
	return func(s *Service) {
		s.notifier = &notifyLeader{etcd: etcd, cfg: election.Config{Prefix: NotifyElection, Name: name, TTL: 10 * time.Second}}
	}
}

type notifyLeader struct {
	etcd    *clientv3.Client
	cfg     election.Config
	leading atomic.Bool
}

// run campaigns until ctx is done; leading is true while this instance
// holds the election.
func (l *notifyLeader) run(ctx context.Context, s *Service) {
	election.Run(ctx, l.etcd, l.cfg, s.logger, func(ctx context.Context) {
		l.leading.Store(true)
		defer l.leading.Store(false)
		<-ctx.Done()
	})
}

// publishes reports whether this instance announces transitions now.
func (l *notifyLeader) publishes() bool { return l == nil || l.leading.Load() }
