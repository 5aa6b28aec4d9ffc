package transcoder

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	transcoderv1 "github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1/transcoderv1connect"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/rpcerr"
)

// handler adapts Service to the generated interface.
type handler struct {
	transcoderv1connect.UnimplementedTranscoderServiceHandler
	svc *Service
}

// SubmitJob is internal (the gateway keeps clients out); it re-encodes from
// an upload the transcoder has seen.
func (h *handler) SubmitJob(ctx context.Context, req *connect.Request[transcoderv1.SubmitJobRequest]) (*connect.Response[transcoderv1.SubmitJobResponse], error) {
	j, err := h.svc.Resubmit(ctx, req.Msg.GetRequestId(), req.Msg.GetVideoId(), req.Msg.GetUploadId(), ladderFromProto(req.Msg.GetLadder()))
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	return connect.NewResponse(&transcoderv1.SubmitJobResponse{Job: jobToProto(j)}), nil
}

func (h *handler) GetJob(ctx context.Context, req *connect.Request[transcoderv1.GetJobRequest]) (*connect.Response[transcoderv1.GetJobResponse], error) {
	caller, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	j, err := h.svc.GetJob(ctx, caller, req.Msg.GetJobId())
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	return connect.NewResponse(&transcoderv1.GetJobResponse{Job: jobToProto(j)}), nil
}

func (h *handler) CancelJob(ctx context.Context, req *connect.Request[transcoderv1.CancelJobRequest]) (*connect.Response[transcoderv1.CancelJobResponse], error) {
	caller, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	j, err := h.svc.CancelJob(ctx, caller, req.Msg.GetJobId())
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	return connect.NewResponse(&transcoderv1.CancelJobResponse{Job: jobToProto(j)}), nil
}

func (h *handler) ListJobs(ctx context.Context, req *connect.Request[transcoderv1.ListJobsRequest]) (*connect.Response[transcoderv1.ListJobsResponse], error) {
	caller, err := identity.Require(ctx)
	if err != nil {
		return nil, err
	}
	jobs, next, err := h.svc.ListJobs(ctx, caller, ListParams{
		PageSize: int(req.Msg.GetPageSize()), PageToken: req.Msg.GetPageToken(),
		VideoID: req.Msg.GetVideoId(), State: State(req.Msg.GetState()),
	})
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	res := &transcoderv1.ListJobsResponse{NextPageToken: next}
	for _, j := range jobs {
		res.Jobs = append(res.Jobs, jobToProto(j))
	}
	return connect.NewResponse(res), nil
}

func (h *handler) WatchJob(ctx context.Context, req *connect.Request[transcoderv1.WatchJobRequest], stream *connect.ServerStream[transcoderv1.WatchJobResponse]) error {
	caller, err := identity.Require(ctx)
	if err != nil {
		return err
	}
	err = h.svc.WatchJob(ctx, caller, req.Msg.GetJobId(), req.Msg.GetIncludeSegmentData(), req.Msg.GetResumeAfterSequences(), stream.Send)
	if err != nil && ctx.Err() != nil {
		// The caller left or its deadline passed: say that, not how the
		// watch noticed.
		err = ctx.Err()
	}
	return rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
}

func (h *handler) GetPoolStats(ctx context.Context, _ *connect.Request[transcoderv1.GetPoolStatsRequest]) (*connect.Response[transcoderv1.GetPoolStatsResponse], error) {
	caller := identity.FromContext(ctx)
	if !caller.Authenticated() && !caller.Operator {
		return nil, connect.NewError(connect.CodeUnauthenticated, identity.ErrUnauthenticated)
	}
	ps, err := h.svc.GetPoolStats(ctx, caller)
	if err != nil {
		return nil, rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
	}
	res := &transcoderv1.GetPoolStatsResponse{QueueDepth: uint64(ps.QueueDepth)}
	var speedWeighted float64
	if ps.QueueDepth > 0 {
		res.OldestQueuedAge = durationpb.New(ps.OldestQueued)
	}
	for _, is := range ps.Instances {
		busy := uint32(is.WorkersBusy)
		idle := uint32(max(0, is.WorkersTotal-is.WorkersBusy))
		res.Instances = append(res.Instances, &transcoderv1.InstanceStats{
			InstanceId: is.InstanceID, StartTime: timestamppb.New(is.StartTime),
			WorkersTotal: uint32(is.WorkersTotal), WorkersBusy: busy, WorkersIdle: idle,
			RunningJobIds: is.RunningJobIDs, JobsSucceeded: is.JobsSucceeded, JobsFailed: is.JobsFailed,
			MeanSpeed: is.MeanSpeed,
		})
		speedWeighted += is.MeanSpeed * float64(is.JobsSucceeded)
		res.WorkersTotal += uint32(is.WorkersTotal)
		res.WorkersBusy += busy
		res.WorkersIdle += idle
		res.JobsSucceeded += is.JobsSucceeded
		res.JobsFailed += is.JobsFailed
	}
	if res.JobsSucceeded > 0 {
		res.MeanSpeed = speedWeighted / float64(res.JobsSucceeded)
	}
	return connect.NewResponse(res), nil
}
