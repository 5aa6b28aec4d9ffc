package transcoder_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"

	transcoderv1 "github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1/transcoderv1connect"
	"github.com/streamgate/streamgate/internal/identity"
)

func TestHandler(t *testing.T) {
	e := newEnv(t)
	svc, _ := e.start(t, "inst-a")
	good := clip(t, 4)
	e.upload(t, 5, good[:100]) // fails fast
	job := jobOf(t, svc, "vid_5")
	watch(t.Context(), svc, job.ID, false, nil).wait(t)

	path, h := svc.Handler(connect.WithInterceptors(identity.NewInterceptor(true)))
	mux := http.NewServeMux()
	mux.Handle(path, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client := transcoderv1connect.NewTranscoderServiceClient(srv.Client(), srv.URL)
	withCaller := func(req connect.AnyRequest, addr string) {
		if addr != "" {
			req.Header().Set(identity.DevAddressHeader, addr)
		}
	}

	tests := []struct {
		name   string
		caller string
		id     string
		code   connect.Code
	}{
		{"owner", creator, job.ID, 0},
		{"anonymous", "", job.ID, connect.CodeUnauthenticated},
		{"stranger", stranger.Address, job.ID, connect.CodeNotFound},
		{"unknown job", creator, "job_01JZZZZZZZZZZZZZZZZZZZZZZZ", connect.CodeNotFound},
		{"malformed id", creator, "../etc", connect.CodeInvalidArgument},
	}
	for _, tt := range tests {
		t.Run("GetJob "+tt.name, func(t *testing.T) {
			req := connect.NewRequest(&transcoderv1.GetJobRequest{JobId: tt.id})
			withCaller(req, tt.caller)
			res, err := client.GetJob(t.Context(), req)
			if tt.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if j := res.Msg.GetJob(); j.GetState() != transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_FAILED || j.GetFailureReason() == "" {
					t.Errorf("job: %v", j)
				}
				return
			}
			if got := connect.CodeOf(err); got != tt.code {
				t.Errorf("code %v (%v), want %v", got, err, tt.code)
			}
		})
	}

	t.Run("WatchJob of a terminal job sends one snapshot", func(t *testing.T) {
		req := connect.NewRequest(&transcoderv1.WatchJobRequest{JobId: job.ID})
		withCaller(req, creator)
		stream, err := client.WatchJob(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		for stream.Receive() {
			n++
			if stream.Msg().GetJob().GetId() != job.ID {
				t.Errorf("message: %v", stream.Msg())
			}
		}
		if err := stream.Err(); err != nil || n != 1 {
			t.Errorf("%d messages, err %v", n, err)
		}
	})

	t.Run("CancelJob of a FAILED job", func(t *testing.T) {
		req := connect.NewRequest(&transcoderv1.CancelJobRequest{JobId: job.ID})
		withCaller(req, creator)
		_, err := client.CancelJob(t.Context(), req)
		if connect.CodeOf(err) != connect.CodeFailedPrecondition {
			t.Errorf("got %v, want FailedPrecondition", err)
		}
	})

	t.Run("ListJobs paging and bad tokens", func(t *testing.T) {
		req := connect.NewRequest(&transcoderv1.ListJobsRequest{PageSize: 101})
		withCaller(req, creator)
		if _, err := client.ListJobs(t.Context(), req); connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("page_size 101: %v", err)
		}
		req = connect.NewRequest(&transcoderv1.ListJobsRequest{PageToken: "garbage"})
		withCaller(req, creator)
		if _, err := client.ListJobs(t.Context(), req); connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("bad token: %v", err)
		}
		req = connect.NewRequest(&transcoderv1.ListJobsRequest{State: transcoderv1.TranscodeJobState_TRANSCODE_JOB_STATE_FAILED})
		withCaller(req, creator)
		res, err := client.ListJobs(t.Context(), req)
		if err != nil || len(res.Msg.GetJobs()) != 1 || res.Msg.GetNextPageToken() != "" {
			t.Errorf("ListJobs: %v, %v", res, err)
		}
	})

	t.Run("GetPoolStats needs the operator", func(t *testing.T) {
		req := connect.NewRequest(&transcoderv1.GetPoolStatsRequest{})
		withCaller(req, creator)
		_, err := client.GetPoolStats(t.Context(), req)
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Code() != connect.CodePermissionDenied {
			t.Errorf("got %v, want PermissionDenied", err)
		}
	})

	t.Run("SubmitJob", func(t *testing.T) {
		tests := []struct {
			name string
			req  *transcoderv1.SubmitJobRequest
			code connect.Code
		}{
			{"missing request id", &transcoderv1.SubmitJobRequest{VideoId: "vid_5", UploadId: "upl_5"}, connect.CodeInvalidArgument},
			{"bad video id", &transcoderv1.SubmitJobRequest{RequestId: "r1", VideoId: "vid_../x", UploadId: "upl_5"}, connect.CodeInvalidArgument},
			{"unknown upload", &transcoderv1.SubmitJobRequest{RequestId: "r1", VideoId: "vid_5", UploadId: "upl_9"}, connect.CodeNotFound},
			{"upload of another video", &transcoderv1.SubmitJobRequest{RequestId: "r1", VideoId: "vid_6", UploadId: "upl_5"}, connect.CodeFailedPrecondition},
			{"bad ladder", &transcoderv1.SubmitJobRequest{RequestId: "r1", VideoId: "vid_5", UploadId: "upl_5",
				Ladder: []*transcoderv1.LadderRung{{Name: "audio", Height: 360, VideoBitrateBps: 1e6}}}, connect.CodeInvalidArgument},
		}
		for _, tt := range tests {
			_, err := client.SubmitJob(t.Context(), connect.NewRequest(tt.req))
			if connect.CodeOf(err) != tt.code {
				t.Errorf("%s: got %v, want %v", tt.name, err, tt.code)
			}
		}
		req := &transcoderv1.SubmitJobRequest{RequestId: "again", VideoId: "vid_5", UploadId: "upl_5"}
		res, err := client.SubmitJob(t.Context(), connect.NewRequest(req))
		if err != nil {
			t.Fatal(err)
		}
		again, err := client.SubmitJob(t.Context(), connect.NewRequest(req))
		if err != nil || again.Msg.GetJob().GetId() != res.Msg.GetJob().GetId() || res.Msg.GetJob().GetId() == job.ID {
			t.Errorf("resubmit: %v then %v (%v)", res.Msg.GetJob().GetId(), again.Msg.GetJob().GetId(), err)
		}
	})
}
