package monitor

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
)

// notify publishes alert.transitioned for each alert that started firing or
// resolved (with WithBus); the worker delivers them to operator webhooks.
// Publishing happens outside the engine's lock, and a failure is logged,
// not retried: the alert itself stays listed by ListAlerts.
func (e *alertEngine) notify(ctx context.Context, transitions []Alert) {
	e.broadcast(transitions)
	if e.svc.bus == nil || !e.svc.notifier.publishes() {
		return
	}
	for _, a := range transitions {
		ev := alertEvent(a)
		if err := e.svc.bus.Publish(ctx, ev); err != nil && ctx.Err() == nil {
			e.svc.logger.WarnContext(ctx, "publish alert.transitioned failed", "event_id", ev.GetEventId(), "err", err)
		}
	}
}

func alertEvent(a Alert) *eventsv1.AlertTransitioned {
	ev := &eventsv1.AlertTransitioned{
		AlertId: a.ID, RuleName: a.Rule, Severity: severityName(a.Severity), Firing: a.Firing(),
		Summary: a.Summary, Labels: a.Labels, Value: a.Value, Threshold: a.Threshold,
		OccurTime: timestamppb.New(a.LastEval), StartTime: timestamppb.New(a.Start),
	}
	if ev.Firing {
		ev.EventId = "alert.transitioned:" + a.ID + ":firing"
	} else {
		ev.EventId = "alert.transitioned:" + a.ID + ":resolved"
		ev.EndTime = timestamppb.New(a.End)
	}
	return ev
}

func severityName(s Severity) string {
	switch s {
	case SeverityInfo:
		return "info"
	case SeverityWarning:
		return "warning"
	case SeverityCritical:
		return "critical"
	}
	return "unspecified"
}

// watchBuffer bounds what a slow WatchSystemHealth stream may fall behind
// by; past it, transitions are dropped for that stream (ListAlerts keeps
// the full record) rather than stalling the evaluation loop.
const watchBuffer = 64

// watch returns the alert transitions from now on, and a func that stops
// them.
func (e *alertEngine) watch() (<-chan Alert, func()) {
	ch := make(chan Alert, watchBuffer)
	e.watchMu.Lock()
	if e.watchers == nil {
		e.watchers = map[chan Alert]struct{}{}
	}
	e.watchers[ch] = struct{}{}
	e.watchMu.Unlock()
	return ch, func() {
		e.watchMu.Lock()
		delete(e.watchers, ch)
		e.watchMu.Unlock()
	}
}

func (e *alertEngine) broadcast(transitions []Alert) {
	e.watchMu.Lock()
	defer e.watchMu.Unlock()
	for _, a := range transitions {
		for ch := range e.watchers {
			select {
			case ch <- a:
			default:
			}
		}
	}
}
