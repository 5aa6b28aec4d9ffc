package upload

import (
	"testing"

	"connectrpc.com/connect"

	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
)

func TestDeleteVideoSourceChecksTheVideoID(t *testing.T) {
	e := newEnv(t, envOptions{noRun: true})
	up := e.create(alice, 10, "Doomed")
	c := e.client("")
	for _, id := range []string{"", "v1", "VID_x", "vid_../x", "vid_a/b", "vid_a\x00", " vid_1"} {
		_, err := c.DeleteVideoSource(t.Context(), connect.NewRequest(&uploadv1.DeleteVideoSourceRequest{VideoId: id}))
		if got := connect.CodeOf(err); got != connect.CodeInvalidArgument {
			t.Errorf("DeleteVideoSource(%q) code = %v, want %v (err %v)", id, got, connect.CodeInvalidArgument, err)
		}
	}
	res, err := c.DeleteVideoSource(t.Context(), connect.NewRequest(&uploadv1.DeleteVideoSourceRequest{VideoId: up.GetVideoId()}))
	if err != nil || res.Msg.GetUploadCount() != 1 {
		t.Errorf("DeleteVideoSource(%s) = %v, %v; want 1 upload", up.GetVideoId(), res, err)
	}
}
