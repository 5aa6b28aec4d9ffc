package worker

import (
	"context"
	"errors"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	workerv1 "github.com/streamgate/streamgate/gen/go/streamgate/worker/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/worker/v1/workerv1connect"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/rpcerr"
)

// handler adapts Service to the generated interface. Until an RPC is built,
// the embedded Unimplemented handler answers it with CodeUnimplemented.
type handler struct {
	workerv1connect.UnimplementedWorkerServiceHandler
	svc *Service
}

func (h *handler) operator(ctx context.Context) error {
	if !identity.FromContext(ctx).Operator {
		return connect.NewError(connect.CodePermissionDenied, errors.New("this call needs the operator credential"))
	}
	if err := h.svc.ensureSetup(ctx); err != nil {
		return rpcerr.ToConnect(ctx, h.svc.logger, errors.Join(ErrUnavailable, err), errorTable)
	}
	return nil
}

func (h *handler) SubmitJob(ctx context.Context, req *connect.Request[workerv1.SubmitJobRequest]) (*connect.Response[workerv1.SubmitJobResponse], error) {
	m := req.Msg
	p := SubmitParams{Kind: m.GetKind(), Payload: m.GetPayload(), IdempotencyKey: m.GetIdempotencyKey(), MaxAttempts: m.GetMaxAttempts()}
	if m.RunTime != nil {
		if err := m.RunTime.CheckValid(); err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("run_time is not a valid timestamp"))
		}
		p.RunTime = m.RunTime.AsTime()
	}
	if m.Timeout != nil {
		if err := m.Timeout.CheckValid(); err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("timeout is not a valid duration"))
		}
		p.Timeout = m.Timeout.AsDuration()
		if p.Timeout == 0 {
			return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("timeout must be 1s to 1h"))
		}
	}
	j, dedup, err := h.svc.Submit(ctx, p)
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	return connect.NewResponse(&workerv1.SubmitJobResponse{Job: jobToProto(j), Deduplicated: dedup}), nil
}

func (h *handler) GetJob(ctx context.Context, req *connect.Request[workerv1.GetJobRequest]) (*connect.Response[workerv1.GetJobResponse], error) {
	if err := h.operator(ctx); err != nil {
		return nil, err
	}
	j, _, err := h.svc.jobs.get(ctx, req.Msg.GetJobId())
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	return connect.NewResponse(&workerv1.GetJobResponse{Job: jobToProto(j)}), nil
}

func (h *handler) ListJobs(ctx context.Context, req *connect.Request[workerv1.ListJobsRequest]) (*connect.Response[workerv1.ListJobsResponse], error) {
	if err := h.operator(ctx); err != nil {
		return nil, err
	}
	m := req.Msg
	st := State(m.GetState())
	if st < StateUnspecified || st > StateCanceled {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("unknown state"))
	}
	jobs, next, err := h.svc.jobs.list(ctx, m.GetKind(), st, int(m.GetPageSize()), m.GetPageToken())
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	resp := &workerv1.ListJobsResponse{NextPageToken: next}
	for _, j := range jobs {
		resp.Jobs = append(resp.Jobs, jobToProto(j))
	}
	return connect.NewResponse(resp), nil
}

func (h *handler) CancelJob(ctx context.Context, req *connect.Request[workerv1.CancelJobRequest]) (*connect.Response[workerv1.CancelJobResponse], error) {
	if err := h.operator(ctx); err != nil {
		return nil, err
	}
	j, err := h.svc.jobs.cancel(ctx, req.Msg.GetJobId())
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	return connect.NewResponse(&workerv1.CancelJobResponse{Job: jobToProto(j)}), nil
}

func (h *handler) RetryJob(ctx context.Context, req *connect.Request[workerv1.RetryJobRequest]) (*connect.Response[workerv1.RetryJobResponse], error) {
	if err := h.operator(ctx); err != nil {
		return nil, err
	}
	j, err := h.svc.jobs.retry(ctx, req.Msg.GetJobId())
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	return connect.NewResponse(&workerv1.RetryJobResponse{Job: jobToProto(j)}), nil
}

func ts(t interface{ IsZero() bool }) bool { return !t.IsZero() }

func jobToProto(j Job) *workerv1.Job {
	p := &workerv1.Job{
		Id: j.ID, Kind: j.Kind, Payload: j.Payload, State: workerv1.JobState(j.State),
		Attempts: j.Attempts, MaxAttempts: j.MaxAttempts, LastError: j.LastError,
		Timeout: durationpb.New(j.Timeout), IdempotencyKey: j.IdempotencyKey,
		CreateTime: timestamppb.New(j.CreateTime), UpdateTime: timestamppb.New(j.UpdateTime),
		ScheduleId: j.ScheduleID,
	}
	if ts(j.NextAttempt) && (j.State == StateScheduled || j.State == StateRetrying) {
		p.NextAttemptTime = timestamppb.New(j.NextAttempt)
	}
	if ts(j.StartTime) {
		p.StartTime = timestamppb.New(j.StartTime)
	}
	if ts(j.FinishTime) {
		p.FinishTime = timestamppb.New(j.FinishTime)
	}
	return p
}

func (h *handler) session(ctx context.Context) (identity.Caller, error) {
	c, err := identity.Require(ctx)
	if err != nil {
		return c, err
	}
	if err := h.svc.ensureSetup(ctx); err != nil {
		return c, rpcerr.ToConnect(ctx, h.svc.logger, errors.Join(ErrUnavailable, err), errorTable)
	}
	return c, nil
}

func webhookToProto(w Webhook) *workerv1.Webhook {
	p := &workerv1.Webhook{Id: w.ID, OwnerAddress: w.Owner, Url: w.URL, EventTypes: w.EventTypes, CreateTime: timestamppb.New(w.CreateTime)}
	if w.Owner == operatorOwner {
		p.OwnerAddress, p.Operator = "", true
	}
	return p
}

func (h *handler) CreateWebhook(ctx context.Context, req *connect.Request[workerv1.CreateWebhookRequest]) (*connect.Response[workerv1.CreateWebhookResponse], error) {
	c, err := h.session(ctx)
	if err != nil {
		return nil, err
	}
	w, err := h.svc.createWebhook(ctx, c.Address, req.Msg.GetUrl(), req.Msg.GetEventTypes(), req.Msg.GetRequestId())
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	return connect.NewResponse(&workerv1.CreateWebhookResponse{Webhook: webhookToProto(w), Secret: w.Secret}), nil
}

func (h *handler) ListWebhooks(ctx context.Context, req *connect.Request[workerv1.ListWebhooksRequest]) (*connect.Response[workerv1.ListWebhooksResponse], error) {
	c, err := h.session(ctx)
	if err != nil {
		return nil, err
	}
	ws, next, err := h.svc.listWebhooks(ctx, c.Address, int(req.Msg.GetPageSize()), req.Msg.GetPageToken())
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	resp := &workerv1.ListWebhooksResponse{NextPageToken: next}
	for _, w := range ws {
		resp.Webhooks = append(resp.Webhooks, webhookToProto(w))
	}
	return connect.NewResponse(resp), nil
}

func (h *handler) DeleteWebhook(ctx context.Context, req *connect.Request[workerv1.DeleteWebhookRequest]) (*connect.Response[workerv1.DeleteWebhookResponse], error) {
	c, err := h.session(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.svc.deleteWebhook(ctx, c.Address, req.Msg.GetWebhookId()); err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	return connect.NewResponse(&workerv1.DeleteWebhookResponse{}), nil
}

func (h *handler) ListWebhookDeliveries(ctx context.Context, req *connect.Request[workerv1.ListWebhookDeliveriesRequest]) (*connect.Response[workerv1.ListWebhookDeliveriesResponse], error) {
	c, err := h.session(ctx)
	if err != nil {
		return nil, err
	}
	ds, next, err := h.svc.listDeliveries(ctx, c.Address, req.Msg.GetWebhookId(), int(req.Msg.GetPageSize()), req.Msg.GetPageToken())
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	resp := &workerv1.ListWebhookDeliveriesResponse{NextPageToken: next}
	for _, d := range ds {
		resp.Deliveries = append(resp.Deliveries, deliveryToProto(d))
	}
	return connect.NewResponse(resp), nil
}

func (h *handler) scheduleToProto(sc Schedule) *workerv1.Schedule {
	p := &workerv1.Schedule{
		Id: sc.ID, Name: sc.Name, CronSpec: sc.CronSpec, Timezone: sc.Timezone, Kind: sc.Kind, Payload: sc.Payload,
		LastJobId: sc.LastJobID, CreateTime: timestamppb.New(sc.CreateTime),
	}
	from := h.svc.jobs.now()
	if !sc.LastFireTime.IsZero() {
		p.LastFireTime = timestamppb.New(sc.LastFireTime)
		if sc.LastFireTime.After(from) {
			from = sc.LastFireTime
		}
	}
	if n := sc.nextFire(from); !n.IsZero() {
		p.NextFireTime = timestamppb.New(n)
	}
	return p
}

func (h *handler) CreateSchedule(ctx context.Context, req *connect.Request[workerv1.CreateScheduleRequest]) (*connect.Response[workerv1.CreateScheduleResponse], error) {
	if err := h.operator(ctx); err != nil {
		return nil, err
	}
	in := req.Msg.GetSchedule()
	sc, err := h.svc.createSchedule(ctx, Schedule{Name: in.GetName(), CronSpec: in.GetCronSpec(), Timezone: in.GetTimezone(), Kind: in.GetKind(), Payload: in.GetPayload()}, req.Msg.GetRequestId())
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	return connect.NewResponse(&workerv1.CreateScheduleResponse{Schedule: h.scheduleToProto(sc)}), nil
}

func (h *handler) DeleteSchedule(ctx context.Context, req *connect.Request[workerv1.DeleteScheduleRequest]) (*connect.Response[workerv1.DeleteScheduleResponse], error) {
	if err := h.operator(ctx); err != nil {
		return nil, err
	}
	if err := h.svc.deleteSchedule(ctx, req.Msg.GetScheduleId()); err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	return connect.NewResponse(&workerv1.DeleteScheduleResponse{}), nil
}

func (h *handler) ListSchedules(ctx context.Context, req *connect.Request[workerv1.ListSchedulesRequest]) (*connect.Response[workerv1.ListSchedulesResponse], error) {
	if err := h.operator(ctx); err != nil {
		return nil, err
	}
	scs, next, err := h.svc.listSchedules(ctx, int(req.Msg.GetPageSize()), req.Msg.GetPageToken())
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	resp := &workerv1.ListSchedulesResponse{NextPageToken: next}
	for _, sc := range scs {
		resp.Schedules = append(resp.Schedules, h.scheduleToProto(sc))
	}
	return connect.NewResponse(resp), nil
}
