package monitor

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	monitorv1 "github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1"
	"github.com/streamgate/streamgate/internal/rpcerr"
)

func (h *handler) GetLogs(ctx context.Context, req *connect.Request[monitorv1.GetLogsRequest]) (*connect.Response[monitorv1.GetLogsResponse], error) {
	m := req.Msg
	q := LogQuery{
		Service:   m.GetService(),
		MinLevel:  m.GetMinLevel(),
		Text:      m.GetText(),
		TraceID:   m.GetTraceId(),
		PageSize:  int(m.GetPageSize()),
		PageToken: m.GetPageToken(),
	}
	if m.SinceTime != nil {
		if err := m.GetSinceTime().CheckValid(); err != nil {
			return nil, rpcerr.ToConnect(ctx, h.svc.logger, errors.Join(ErrInvalidArgument, errors.New("since_time is not a valid timestamp")), errorTable)
		}
		q.Since = m.GetSinceTime().AsTime()
	}
	page, err := h.svc.logs.Query(q)
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	res := &monitorv1.GetLogsResponse{Records: page.Records, NextPageToken: page.NextPageToken}
	if !page.RingStart.IsZero() {
		res.RingStartTime = timestamppb.New(page.RingStart)
	}
	return connect.NewResponse(res), nil
}

func (h *handler) GetChainStatus(ctx context.Context, req *connect.Request[monitorv1.GetChainStatusRequest]) (*connect.Response[monitorv1.GetChainStatusResponse], error) {
	states, ok := h.svc.ChainStatus(req.Msg.GetChainId())
	if !ok {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, errors.Join(ErrNotFound, errors.New("chain is not configured")), errorTable)
	}
	res := &monitorv1.GetChainStatusResponse{}
	for _, s := range states {
		res.Chains = append(res.Chains, chainToProto(s))
	}
	return connect.NewResponse(res), nil
}

func chainToProto(s ChainState) *monitorv1.ChainStatus {
	p := &monitorv1.ChainStatus{
		ChainId:       s.ChainID,
		Name:          s.Name,
		RpcHost:       s.RPCHost,
		RpcErrorRatio: s.ErrorRatio,
		BreakerState:  breakerToProto(s.Breaker),
		LastError:     s.LastError,
	}
	if s.HasHead {
		p.HeadBlockNumber = s.HeadNumber
		p.HeadBlockTime = timestamppb.New(s.HeadTime)
		p.BlockAge = durationpb.New(s.BlockAge)
	}
	if s.LatencyP50 > 0 {
		p.RpcLatencyP50 = durationpb.New(s.LatencyP50)
	}
	if s.BaseFee != nil {
		p.BaseFeeWei = s.BaseFee.String()
	}
	if s.PriorityFee != nil {
		p.PriorityFeeWei = s.PriorityFee.String()
	}
	if !s.CheckTime.IsZero() {
		p.CheckTime = timestamppb.New(s.CheckTime)
	}
	return p
}

func breakerToProto(s string) monitorv1.BreakerState {
	switch s {
	case "closed":
		return monitorv1.BreakerState_BREAKER_STATE_CLOSED
	case "open":
		return monitorv1.BreakerState_BREAKER_STATE_OPEN
	case "half-open":
		return monitorv1.BreakerState_BREAKER_STATE_HALF_OPEN
	default:
		return monitorv1.BreakerState_BREAKER_STATE_UNSPECIFIED
	}
}

func (h *handler) GetMetrics(ctx context.Context, req *connect.Request[monitorv1.GetMetricsRequest]) (*connect.Response[monitorv1.GetMetricsResponse], error) {
	if h.svc.metrics == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("metrics scraping is not configured"))
	}
	if err := h.checkService(req.Msg.GetService()); err != nil {
		return nil, err
	}
	window := defaultMetricsWindow
	if w := req.Msg.GetWindow(); w != nil {
		if err := w.CheckValid(); err != nil || w.AsDuration() <= 0 || w.AsDuration() > maxMetricsWindow {
			return nil, rpcerr.ToConnect(ctx, h.svc.logger, errors.Join(ErrInvalidArgument, errors.New("window must be positive and at most 1h")), errorTable)
		}
		window = w.AsDuration()
	}
	sums, at := h.svc.metrics.summary(window)
	res := &monitorv1.GetMetricsResponse{Window: durationpb.New(window)}
	if !at.IsZero() {
		res.ScrapeTime = timestamppb.New(at)
	}
	for _, s := range sums {
		if req.Msg.GetService() != "" && s.Service != req.Msg.GetService() {
			continue
		}
		p := &monitorv1.ServiceMetrics{
			Service:           s.Service,
			InstanceCount:     uint32(s.Instances),
			RequestsPerSecond: s.RequestsPerS,
			ErrorRatio:        s.ErrorRatio,
			Figures:           s.Figures,
		}
		if s.HaveLatencies {
			p.LatencyP50 = durationpb.New(s.P50)
			p.LatencyP95 = durationpb.New(s.P95)
		}
		res.Services = append(res.Services, p)
	}
	return connect.NewResponse(res), nil
}

// Page sizes of ListAlerts.
const (
	defaultAlertPageSize = 50
	maxAlertPageSize     = 500
)

func (h *handler) ListAlerts(ctx context.Context, req *connect.Request[monitorv1.ListAlertsRequest]) (*connect.Response[monitorv1.ListAlertsResponse], error) {
	m := req.Msg
	size := int(m.GetPageSize())
	switch {
	case size < 0:
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, errors.Join(ErrInvalidArgument, errors.New("page_size must not be negative")), errorTable)
	case size == 0:
		size = defaultAlertPageSize
	case size > maxAlertPageSize:
		size = maxAlertPageSize
	}
	offset := 0
	if t := m.GetPageToken(); t != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(t, "o"))
		if err != nil || !strings.HasPrefix(t, "o") || n <= 0 {
			return nil, rpcerr.ToConnect(ctx, h.svc.logger, errors.Join(ErrInvalidArgument, errors.New("malformed page_token")), errorTable)
		}
		offset = n
	}
	var want func(Alert) bool
	switch m.GetState() {
	case monitorv1.AlertState_ALERT_STATE_UNSPECIFIED:
		want = func(Alert) bool { return true }
	case monitorv1.AlertState_ALERT_STATE_FIRING:
		want = Alert.Firing
	case monitorv1.AlertState_ALERT_STATE_RESOLVED:
		want = func(a Alert) bool { return !a.Firing() }
	default:
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, errors.Join(ErrInvalidArgument, errors.New("unknown state")), errorTable)
	}
	all, firing := h.svc.alerts.list()
	var matched []Alert
	for _, a := range all {
		if want(a) {
			matched = append(matched, a)
		}
	}
	res := &monitorv1.ListAlertsResponse{FiringCount: uint32(firing)}
	if offset < len(matched) {
		end := min(offset+size, len(matched))
		for _, a := range matched[offset:end] {
			res.Alerts = append(res.Alerts, alertToProto(a))
		}
		if end < len(matched) {
			res.NextPageToken = "o" + strconv.Itoa(end)
		}
	}
	return connect.NewResponse(res), nil
}

func alertToProto(a Alert) *monitorv1.Alert {
	p := &monitorv1.Alert{
		Id:                 a.ID,
		RuleName:           a.Rule,
		Severity:           monitorv1.AlertSeverity(a.Severity),
		State:              monitorv1.AlertState_ALERT_STATE_FIRING,
		Summary:            a.Summary,
		Labels:             a.Labels,
		Value:              a.Value,
		Threshold:          a.Threshold,
		StartTime:          timestamppb.New(a.Start),
		LastEvaluationTime: timestamppb.New(a.LastEval),
	}
	if !a.Firing() {
		p.State = monitorv1.AlertState_ALERT_STATE_RESOLVED
		p.EndTime = timestamppb.New(a.End)
	}
	return p
}
