package auth

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
)

func TestEnsureContentKeysMakesThemOnce(t *testing.T) {
	e := newEnv(t)
	get := func() []*authv1.ContentKey {
		res, err := e.client.EnsureContentKeys(t.Context(), connect.NewRequest(&authv1.EnsureContentKeysRequest{VideoId: "vid_01J0000000000000000000000A"}))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg.GetKeys()
	}
	first, again := get(), get()
	if len(first) != 2 || !proto.Equal(first[0], again[0]) || !proto.Equal(first[1], again[1]) {
		t.Fatalf("keys changed between calls: %v / %v", first, again)
	}
	for _, k := range first {
		if len(k.GetKeyId()) != 16 || len(k.GetKey()) != 16 || k.GetScope() == authv1.ContentKeyScope_CONTENT_KEY_SCOPE_UNSPECIFIED {
			t.Fatalf("key %v", k)
		}
	}
	for _, bad := range []string{"", "vid_../../x", "v1"} {
		_, err := e.client.EnsureContentKeys(t.Context(), connect.NewRequest(&authv1.EnsureContentKeysRequest{VideoId: bad}))
		wantCode(t, err, connect.CodeInvalidArgument)
		_, err = e.client.DeleteContentKeys(t.Context(), connect.NewRequest(&authv1.DeleteContentKeysRequest{VideoId: bad}))
		wantCode(t, err, connect.CodeInvalidArgument)
	}
	// Deleted with the video: twice is fine, and new keys are new.
	for want := uint32(2); ; want = 0 {
		res, err := e.client.DeleteContentKeys(t.Context(), connect.NewRequest(&authv1.DeleteContentKeysRequest{VideoId: "vid_01J0000000000000000000000A"}))
		if err != nil || res.Msg.GetDeleted() != want {
			t.Fatalf("DeleteContentKeys: %v %v, want %d deleted", res, err, want)
		}
		if want == 0 {
			break
		}
	}
	if fresh := get(); bytes.Equal(fresh[0].GetKey(), first[0].GetKey()) {
		t.Error("a deleted key came back")
	}
}

// The key server's decision: every key to the public, the creator and a
// holder; the preview key alone to anyone else when the policy has a
// preview; nothing otherwise, and nothing when it cannot decide.
func TestReleaseContentKeys(t *testing.T) {
	e := newEnv(t)
	holder, stranger, creator := newWallet(t), newWallet(t), newWallet(t)
	e.access.allowed[holder.addr] = true
	withPreview := proto.CloneOf(nftPolicy)
	withPreview.PreviewSeconds = 30
	add := func(id string, p *authv1.AccessPolicy) {
		v := readyVideo(id, p)
		v.CreatorAddress = strings.ToLower(creator.addr.Hex())
		e.videos.videos[id] = v
		if _, err := e.svc.EnsureContentKeys(t.Context(), id, p.GetPreviewSeconds()); err != nil {
			t.Fatal(err)
		}
	}
	add("vid_01J0000000000000000000000P", &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_PUBLIC})
	add("vid_01J0000000000000000000000G", nftPolicy)
	add("vid_01J0000000000000000000000V", withPreview)
	// Encoded with a 30 s preview, since shortened to 10 s.
	add("vid_01J0000000000000000000000S", withPreview)
	shortened := proto.CloneOf(withPreview)
	shortened.PreviewSeconds = 10
	e.videos.videos["vid_01J0000000000000000000000S"].AccessPolicy = shortened
	e.videos.videos["vid_01J0000000000000000000000C"] = readyVideo("vid_01J0000000000000000000000C", nftPolicy) // packaged in clear: no keys

	const (
		full    = authv1.ContentKeyScope_CONTENT_KEY_SCOPE_FULL
		preview = authv1.ContentKeyScope_CONTENT_KEY_SCOPE_PREVIEW
	)
	for _, tt := range []struct {
		name, video, address string
		code                 connect.Code
		grant                authv1.PlaybackGrant
		scopes               []authv1.ContentKeyScope
	}{
		{"public", "vid_01J0000000000000000000000P", stranger.addr.Hex(), 0, authv1.PlaybackGrant_PLAYBACK_GRANT_PUBLIC, []authv1.ContentKeyScope{full, preview}},
		{"holder", "vid_01J0000000000000000000000G", holder.addr.Hex(), 0, authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER, []authv1.ContentKeyScope{full, preview}},
		{"creator without the pass", "vid_01J0000000000000000000000G", creator.addr.Hex(), 0, authv1.PlaybackGrant_PLAYBACK_GRANT_CREATOR, []authv1.ContentKeyScope{full, preview}},
		{"stranger, preview", "vid_01J0000000000000000000000V", stranger.addr.Hex(), 0, authv1.PlaybackGrant_PLAYBACK_GRANT_PREVIEW, []authv1.ContentKeyScope{preview}},
		{"holder, preview policy", "vid_01J0000000000000000000000V", holder.addr.Hex(), 0, authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER, []authv1.ContentKeyScope{full, preview}},
		{"stranger, no preview", "vid_01J0000000000000000000000G", stranger.addr.Hex(), connect.CodePermissionDenied, 0, nil},
		{"stranger, preview shortened after the encode", "vid_01J0000000000000000000000S", stranger.addr.Hex(), connect.CodePermissionDenied, 0, nil},
		{"holder, preview shortened after the encode", "vid_01J0000000000000000000000S", holder.addr.Hex(), 0, authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER, []authv1.ContentKeyScope{full, preview}},
		{"packaged in clear", "vid_01J0000000000000000000000C", holder.addr.Hex(), connect.CodeNotFound, 0, nil},
		{"unknown video", "vid_01J0000000000000000000000X", holder.addr.Hex(), connect.CodeNotFound, 0, nil},
		{"bad video id", "vid_../keys", holder.addr.Hex(), connect.CodeInvalidArgument, 0, nil},
		{"bad address", "vid_01J0000000000000000000000G", "0xnot-an-address", connect.CodeInvalidArgument, 0, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.client.ReleaseContentKeys(t.Context(), connect.NewRequest(&authv1.ReleaseContentKeysRequest{VideoId: tt.video, Address: tt.address}))
			if tt.code != 0 {
				wantCode(t, err, tt.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Msg.GetGrant() != tt.grant {
				t.Errorf("grant %v, want %v", res.Msg.GetGrant(), tt.grant)
			}
			var scopes []authv1.ContentKeyScope
			for _, k := range res.Msg.GetKeys() {
				scopes = append(scopes, k.GetScope())
			}
			if len(scopes) != len(tt.scopes) || !containsAll(scopes, tt.scopes) {
				t.Errorf("scopes %v, want %v", scopes, tt.scopes)
			}
		})
	}

	// The keys released are the ones the packager got.
	pk, _ := e.svc.EnsureContentKeys(t.Context(), "vid_01J0000000000000000000000V", 30)
	res, err := e.client.ReleaseContentKeys(t.Context(), connect.NewRequest(&authv1.ReleaseContentKeysRequest{VideoId: "vid_01J0000000000000000000000V", Address: stranger.addr.Hex()}))
	if err != nil {
		t.Fatal(err)
	}
	var want *authv1.ContentKey
	for _, k := range pk {
		if k.GetScope() == preview {
			want = k
		}
	}
	if got := res.Msg.GetKeys()[0]; !bytes.Equal(got.GetKey(), want.GetKey()) || !bytes.Equal(got.GetKeyId(), want.GetKeyId()) {
		t.Errorf("released %x/%x, the packager's preview key is %x/%x", got.GetKeyId(), got.GetKey(), want.GetKeyId(), want.GetKey())
	}

	// Fail closed: a chain that cannot be reached releases nothing, not
	// even the preview.
	e.access.mu.Lock()
	e.access.err = errors.New("chain down")
	e.access.mu.Unlock()
	_, err = e.client.ReleaseContentKeys(t.Context(), connect.NewRequest(&authv1.ReleaseContentKeysRequest{VideoId: "vid_01J0000000000000000000000V", Address: stranger.addr.Hex()}))
	wantCode(t, err, connect.CodeUnavailable)
}

func containsAll(have, want []authv1.ContentKeyScope) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}
