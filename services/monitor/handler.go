package monitor

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	monitorv1 "github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1/monitorv1connect"
)

// handler adapts Service to the generated interface. Until an RPC is built,
// the embedded Unimplemented handler answers it with CodeUnimplemented.
type handler struct {
	monitorv1connect.UnimplementedMonitorServiceHandler
	svc *Service
}

func (h *handler) checkService(name string) error {
	if name == "" {
		return nil
	}
	for _, s := range h.svc.health.cfg.Services {
		if s == name {
			return nil
		}
	}
	return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("unknown service %q", name))
}

func (h *handler) GetSystemHealth(_ context.Context, req *connect.Request[monitorv1.GetSystemHealthRequest]) (*connect.Response[monitorv1.GetSystemHealthResponse], error) {
	if err := h.checkService(req.Msg.GetService()); err != nil {
		return nil, err
	}
	snap := h.svc.health.Snapshot(req.Msg.GetService())
	return connect.NewResponse(&monitorv1.GetSystemHealthResponse{SystemHealth: systemHealthToProto(snap)}), nil
}

func (h *handler) WatchSystemHealth(ctx context.Context, req *connect.Request[monitorv1.WatchSystemHealthRequest], stream *connect.ServerStream[monitorv1.WatchSystemHealthResponse]) error {
	service := req.Msg.GetService()
	if err := h.checkService(service); err != nil {
		return err
	}
	sub := h.svc.health.Subscribe(service)
	defer sub.Close()
	alerts, stopAlerts := h.svc.alerts.watch()
	defer stopAlerts()
	sendSnapshot := func() error {
		snap := h.svc.health.Snapshot(service)
		return stream.Send(&monitorv1.WatchSystemHealthResponse{
			ChangeType:   monitorv1.HealthChangeType_HEALTH_CHANGE_TYPE_SNAPSHOT,
			Payload:      &monitorv1.WatchSystemHealthResponse_Snapshot{Snapshot: systemHealthToProto(snap)},
			SystemStatus: statusToProto(snap.Status),
			ChangeTime:   timestamppb.New(snap.Time),
		})
	}
	if err := sendSnapshot(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case a := <-alerts:
			if l := a.Labels["service"]; service != "" && l != "" && l != service {
				continue
			}
			kind, at := monitorv1.HealthChangeType_HEALTH_CHANGE_TYPE_ALERT_FIRED, a.Start
			if !a.Firing() {
				kind, at = monitorv1.HealthChangeType_HEALTH_CHANGE_TYPE_ALERT_RESOLVED, a.End
			}
			if err := stream.Send(&monitorv1.WatchSystemHealthResponse{
				ChangeType:   kind,
				Payload:      &monitorv1.WatchSystemHealthResponse_Alert{Alert: alertToProto(a)},
				SystemStatus: statusToProto(h.svc.health.Snapshot("").Status),
				ChangeTime:   timestamppb.New(at),
			}); err != nil {
				return err
			}
		case c := <-sub.C():
			if sub.TakeBehind() {
				drain(sub.C())
				if err := sendSnapshot(); err != nil {
					return err
				}
				continue
			}
			if c.Kind == ChangeSnapshot {
				if err := sendSnapshot(); err != nil {
					return err
				}
				continue
			}
			msg := &monitorv1.WatchSystemHealthResponse{
				ChangeType:    changeKindToProto(c.Kind),
				Payload:       &monitorv1.WatchSystemHealthResponse_Instance{Instance: instanceToProto(c.Instance)},
				ServiceStatus: statusToProto(h.svc.health.ServiceStatus(c.Instance.Instance.Service)),
				SystemStatus:  statusToProto(h.svc.health.Snapshot("").Status),
				ChangeTime:    timestamppb.New(c.Time),
			}
			if err := stream.Send(msg); err != nil {
				return err
			}
		}
	}
}

func drain(ch <-chan Change) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func systemHealthToProto(s Snapshot) *monitorv1.SystemHealth {
	out := &monitorv1.SystemHealth{Status: statusToProto(s.Status)}
	for _, svc := range s.Services {
		ps := &monitorv1.ServiceHealth{
			Service:              svc.Service,
			Status:               statusToProto(svc.Status),
			ServingInstanceCount: uint32(svc.Serving),
		}
		for _, in := range svc.Instances {
			ps.Instances = append(ps.Instances, instanceToProto(in))
		}
		out.Services = append(out.Services, ps)
	}
	return out
}

func instanceToProto(in InstanceState) *monitorv1.InstanceHealth {
	p := &monitorv1.InstanceHealth{
		Service:             in.Instance.Service,
		InstanceId:          in.Instance.ID,
		Address:             in.Instance.Address,
		Version:             in.Instance.Version,
		Status:              statusToProto(in.Status),
		ConsecutiveFailures: in.ConsecutiveFailures,
		LastError:           in.LastError,
	}
	if !in.Instance.StartTime.IsZero() {
		p.RegisterTime = timestamppb.New(in.Instance.StartTime)
	}
	if !in.LastCheck.IsZero() {
		p.LastCheckTime = timestamppb.New(in.LastCheck)
		p.CheckLatency = durationpb.New(in.Latency)
	}
	return p
}

func statusToProto(s Status) monitorv1.ServingStatus {
	switch s {
	case StatusServing:
		return monitorv1.ServingStatus_SERVING_STATUS_SERVING
	case StatusNotServing:
		return monitorv1.ServingStatus_SERVING_STATUS_NOT_SERVING
	default:
		return monitorv1.ServingStatus_SERVING_STATUS_UNKNOWN
	}
}

func changeKindToProto(k ChangeKind) monitorv1.HealthChangeType {
	switch k {
	case ChangeAdded:
		return monitorv1.HealthChangeType_HEALTH_CHANGE_TYPE_INSTANCE_ADDED
	case ChangeRemoved:
		return monitorv1.HealthChangeType_HEALTH_CHANGE_TYPE_INSTANCE_REMOVED
	case ChangeUpdated:
		return monitorv1.HealthChangeType_HEALTH_CHANGE_TYPE_INSTANCE_UPDATED
	default:
		return monitorv1.HealthChangeType_HEALTH_CHANGE_TYPE_SNAPSHOT
	}
}
