package metadata

import (
	"testing"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
)

// TestVideoChangedAnnounced: gating a video and deleting it each publish
// video.changed with the video as stored after the change (streaming drops
// its cached copy on it); a refused update and a second delete publish
// nothing.
func TestVideoChangedAnnounced(t *testing.T) {
	e := newEnv(t)
	v := e.create(t, alice, "Gate me")
	changed := func() []*eventsv1.VideoChanged {
		var out []*eventsv1.VideoChanged
		for _, p := range e.rec.published() {
			if c, ok := p.(*eventsv1.VideoChanged); ok {
				out = append(out, c)
			}
		}
		return out
	}

	res, err := e.client.UpdateVideo(t.Context(), req(alice, &metadatav1.UpdateVideoRequest{
		Video:      &metadatav1.Video{Id: v.GetId(), Etag: v.GetEtag(), AccessPolicy: gatedPolicy()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"access_policy"}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := changed()
	if len(got) != 1 {
		t.Fatalf("after gating: %d video.changed events, want 1", len(got))
	}
	stored := e.get(t, v.GetId())
	if c := got[0]; c.GetEventId() != "video.changed:"+v.GetId()+":2" || c.GetVideo().GetEtag() != res.Msg.GetVideo().GetEtag() ||
		c.GetVideo().GetAccessPolicy().GetMode() != authv1.AccessMode_ACCESS_MODE_ANY || !c.GetOccurTime().AsTime().Equal(stored.UpdateTime) {
		t.Errorf("video.changed = %v, want the gated video at version 2", c)
	}

	// A stale etag changes nothing and announces nothing.
	_, err = e.client.UpdateVideo(t.Context(), req(alice, &metadatav1.UpdateVideoRequest{
		Video:      &metadatav1.Video{Id: v.GetId(), Etag: v.GetEtag(), Title: "stale"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
	}))
	if err == nil || len(changed()) != 1 {
		t.Fatalf("stale update: err %v, %d events; want an error and still 1", err, len(changed()))
	}

	for range 2 {
		if _, err := e.client.DeleteVideo(t.Context(), req(alice, &metadatav1.DeleteVideoRequest{VideoId: v.GetId()})); err != nil {
			t.Fatal(err)
		}
	}
	got = changed()
	if len(got) != 2 || got[1].GetVideo().GetStatus() != metadatav1.VideoStatus_VIDEO_STATUS_DELETED {
		t.Fatalf("after deleting twice: %v, want one more video.changed with the DELETED video", got)
	}
	if n := streamMsgs(t, e, "VIDEOS"); n != 2 {
		t.Errorf("VIDEOS holds %d messages, want the 2 changes", n)
	}
}
