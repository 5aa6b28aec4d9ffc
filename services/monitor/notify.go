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
	if e.svc.bus == nil {
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
