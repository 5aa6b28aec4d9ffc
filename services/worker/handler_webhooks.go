package worker

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	workerv1 "github.com/streamgate/streamgate/gen/go/streamgate/worker/v1"
	"github.com/streamgate/streamgate/internal/rpcerr"
)

// Test deliveries and the operator's webhooks. Operator webhooks are
// stored under operatorOwner, so the wallet RPCs (scoped to the caller's
// address) never see them, and the operator RPCs see nothing else.

func (h *handler) SendTestWebhookDelivery(ctx context.Context, req *connect.Request[workerv1.SendTestWebhookDeliveryRequest]) (*connect.Response[workerv1.SendTestWebhookDeliveryResponse], error) {
	c, err := h.session(ctx)
	if err != nil {
		return nil, err
	}
	j, eventID, err := h.svc.sendTest(ctx, c.Address, req.Msg.GetWebhookId())
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	return connect.NewResponse(&workerv1.SendTestWebhookDeliveryResponse{JobId: j.ID, EventId: eventID}), nil
}

func (h *handler) CreateOperatorWebhook(ctx context.Context, req *connect.Request[workerv1.CreateOperatorWebhookRequest]) (*connect.Response[workerv1.CreateOperatorWebhookResponse], error) {
	if err := h.operator(ctx); err != nil {
		return nil, err
	}
	w, err := h.svc.createWebhook(ctx, operatorOwner, req.Msg.GetUrl(), req.Msg.GetEventTypes(), req.Msg.GetRequestId())
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	return connect.NewResponse(&workerv1.CreateOperatorWebhookResponse{Webhook: webhookToProto(w), Secret: w.Secret}), nil
}

func (h *handler) ListOperatorWebhooks(ctx context.Context, req *connect.Request[workerv1.ListOperatorWebhooksRequest]) (*connect.Response[workerv1.ListOperatorWebhooksResponse], error) {
	if err := h.operator(ctx); err != nil {
		return nil, err
	}
	ws, next, err := h.svc.listWebhooks(ctx, operatorOwner, int(req.Msg.GetPageSize()), req.Msg.GetPageToken())
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	resp := &workerv1.ListOperatorWebhooksResponse{NextPageToken: next}
	for _, w := range ws {
		resp.Webhooks = append(resp.Webhooks, webhookToProto(w))
	}
	return connect.NewResponse(resp), nil
}

func (h *handler) DeleteOperatorWebhook(ctx context.Context, req *connect.Request[workerv1.DeleteOperatorWebhookRequest]) (*connect.Response[workerv1.DeleteOperatorWebhookResponse], error) {
	if err := h.operator(ctx); err != nil {
		return nil, err
	}
	if err := h.svc.deleteWebhook(ctx, operatorOwner, req.Msg.GetWebhookId()); err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	return connect.NewResponse(&workerv1.DeleteOperatorWebhookResponse{}), nil
}

func (h *handler) ListOperatorWebhookDeliveries(ctx context.Context, req *connect.Request[workerv1.ListOperatorWebhookDeliveriesRequest]) (*connect.Response[workerv1.ListOperatorWebhookDeliveriesResponse], error) {
	if err := h.operator(ctx); err != nil {
		return nil, err
	}
	ds, next, err := h.svc.listDeliveries(ctx, operatorOwner, req.Msg.GetWebhookId(), int(req.Msg.GetPageSize()), req.Msg.GetPageToken())
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	resp := &workerv1.ListOperatorWebhookDeliveriesResponse{NextPageToken: next}
	for _, d := range ds {
		resp.Deliveries = append(resp.Deliveries, deliveryToProto(d))
	}
	return connect.NewResponse(resp), nil
}

func deliveryToProto(d Delivery) *workerv1.WebhookDelivery {
	p := &workerv1.WebhookDelivery{
		EventId: d.EventID, EventType: d.EventType, Attempt: d.Attempt, AttemptTime: timestamppb.New(d.AttemptTime),
		StatusCode: int32(d.StatusCode), Duration: durationpb.New(d.Duration), Error: d.Error, Succeeded: d.Succeeded,
	}
	if !d.NextAttempt.IsZero() {
		p.NextAttemptTime = timestamppb.New(d.NextAttempt)
	}
	return p
}
