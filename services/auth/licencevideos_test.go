package auth

import (
	"errors"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
)

// The key server reuses a video read for LicenceVideoTTL and no longer:
// a policy made stricter, or the video deleted, applies within it; a
// refusal or a metadata failure is never reused; the decision itself is
// the access checker's each time.
func TestLicenceVideoTTL(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.LicenceVideoTTL = 5 * time.Second })
	stranger := newWallet(t)
	const id = "vid_01J0000000000000000000000T"
	withPreview := proto.CloneOf(nftPolicy)
	withPreview.PreviewSeconds = 30
	e.videos.videos[id] = readyVideo(id, withPreview)
	if _, err := e.svc.EnsureContentKeys(t.Context(), id, 30); err != nil {
		t.Fatal(err)
	}
	release := func() error {
		_, err := e.client.ReleaseContentKeys(t.Context(), connect.NewRequest(&authv1.ReleaseContentKeysRequest{VideoId: id, Address: stranger.addr.Hex()}))
		return err
	}
	if err := release(); err != nil {
		t.Fatalf("the preview key: %v", err)
	}
	// The creator drops the preview: within the TTL the read is reused...
	e.videos.mu.Lock()
	e.videos.videos[id] = readyVideo(id, nftPolicy)
	e.videos.mu.Unlock()
	e.clock.Add(4 * time.Second)
	if err := release(); err != nil {
		t.Fatalf("within the TTL: %v", err)
	}
	// ...and past it, the new policy refuses.
	e.clock.Add(2 * time.Second)
	if err := release(); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("past the TTL: %v, want PermissionDenied", err)
	}
	// Deleted: refused once the TTL is over, and the refusal is not kept.
	e.videos.mu.Lock()
	deleted := readyVideo(id, nftPolicy)
	deleted.Status = metadatav1.VideoStatus_VIDEO_STATUS_DELETED
	e.videos.videos[id] = deleted
	e.videos.mu.Unlock()
	e.clock.Add(6 * time.Second)
	if err := release(); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("deleted: %v, want NotFound", err)
	}
	e.videos.mu.Lock()
	e.videos.videos[id] = readyVideo(id, withPreview)
	e.videos.mu.Unlock()
	if err := release(); err != nil {
		t.Fatalf("a refusal was reused: %v", err)
	}
	// Metadata down after the TTL: nothing is released from a stale read.
	e.clock.Add(6 * time.Second)
	e.videos.mu.Lock()
	e.videos.err = errors.New("metadata down")
	e.videos.mu.Unlock()
	if err := release(); connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("metadata down: %v, want Unavailable", err)
	}
}
