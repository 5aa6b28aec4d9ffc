package metadata

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
)

func TestCreateVideo(t *testing.T) {
	e := newEnv(t)
	m := &metadatav1.CreateVideoRequest{
		RequestId: "req-1", CreatorAddress: strings.ToLower(alice), Title: "  My clip  ",
		Description: "about it", Tags: []string{"Music", "music", "lo-fi"}, AccessPolicy: gatedPolicy(), UploadId: "upl_1",
	}
	res, err := e.client.CreateVideo(t.Context(), req("", m))
	if err != nil {
		t.Fatal(err)
	}
	v := res.Msg.GetVideo()
	if !strings.HasPrefix(v.GetId(), "vid_") || len(v.GetId()) != 30 {
		t.Errorf("id %q, want vid_ + 26 characters", v.GetId())
	}
	if v.GetCreatorAddress() != alice || v.GetTitle() != "My clip" || strings.Join(v.GetTags(), ",") != "music,lo-fi" ||
		v.GetStatus() != metadatav1.VideoStatus_VIDEO_STATUS_UPLOADING || v.GetEtag() == "" || v.GetUploadId() != "upl_1" {
		t.Errorf("created video: %v", v)
	}
	// A retry with the same request id returns the same video.
	again, err := e.client.CreateVideo(t.Context(), req("", m))
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(again.Msg.GetVideo(), v) {
		t.Errorf("retry returned %v, want %v", again.Msg.GetVideo(), v)
	}

	bad := []struct {
		name string
		mut  func(m *metadatav1.CreateVideoRequest)
	}{
		{"no request id", func(m *metadatav1.CreateVideoRequest) { m.RequestId = "" }},
		{"long request id", func(m *metadatav1.CreateVideoRequest) { m.RequestId = strings.Repeat("r", 65) }},
		{"bad creator", func(m *metadatav1.CreateVideoRequest) { m.CreatorAddress = "0xnope" }},
		{"empty title", func(m *metadatav1.CreateVideoRequest) { m.Title = "   " }},
		{"long title", func(m *metadatav1.CreateVideoRequest) { m.Title = strings.Repeat("é", 201) }},
		{"NUL in title", func(m *metadatav1.CreateVideoRequest) { m.Title = "a\x00b" }},
		{"newline in title", func(m *metadatav1.CreateVideoRequest) { m.Title = "a\nb" }},
		{"NUL in description", func(m *metadatav1.CreateVideoRequest) { m.Description = "a\x00b" }},
		{"long description", func(m *metadatav1.CreateVideoRequest) { m.Description = strings.Repeat("x", 5001) }},
		{"tag with space", func(m *metadatav1.CreateVideoRequest) { m.Tags = []string{"two words"} }},
		{"tag with quote", func(m *metadatav1.CreateVideoRequest) { m.Tags = []string{`a"b`} }},
		{"sql tag", func(m *metadatav1.CreateVideoRequest) { m.Tags = []string{"';drop"} }},
		{"emoji tag", func(m *metadatav1.CreateVideoRequest) { m.Tags = []string{"🎬"} }},
		{"long tag", func(m *metadatav1.CreateVideoRequest) { m.Tags = []string{strings.Repeat("a", 33)} }},
		{"empty tag", func(m *metadatav1.CreateVideoRequest) { m.Tags = []string{""} }},
		{"too many tags", func(m *metadatav1.CreateVideoRequest) {
			m.Tags = nil
			for i := range 21 {
				m.Tags = append(m.Tags, fmt.Sprintf("t%d", i))
			}
		}},
		{"bad policy", func(m *metadatav1.CreateVideoRequest) {
			m.AccessPolicy = &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL}
		}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			m := &metadatav1.CreateVideoRequest{RequestId: "req-bad-" + tt.name, CreatorAddress: alice, Title: "ok"}
			m.RequestId = strings.ReplaceAll(m.RequestId, " ", "-")
			tt.mut(m)
			_, err := e.client.CreateVideo(t.Context(), req("", m))
			wantCode(t, err, connect.CodeInvalidArgument)
		})
	}
}

// TestHostileStrings stores titles and descriptions built to break SQL or
// full-text syntax, and searches with such queries: every one is plain text.
func TestHostileStrings(t *testing.T) {
	e := newEnv(t)
	titles := []string{
		`'; DROP TABLE videos; --`,
		`" OR ""="`,
		`NEAR(hostile video) AND NOT x*`,
		`-hostile +video ^title: {a b}`,
		`عنوان فيديو hostile ‏RTL‎`,
		`hostile 🎬🎉 👩‍👩‍👧 video`,
		`שלום hostile`,
		`back\slash hostile 100% _under_`,
	}
	for _, title := range titles {
		v := e.create(t, alice, title, func(m *metadatav1.CreateVideoRequest) { m.Description = title })
		e.makeReady(t, v.GetId())
		got, err := e.client.GetVideo(t.Context(), req("", &metadatav1.GetVideoRequest{VideoId: v.GetId()}))
		if err != nil {
			t.Fatal(err)
		}
		if got.Msg.GetVideo().GetTitle() != title || got.Msg.GetVideo().GetDescription() != title {
			t.Errorf("title %q came back as %q", title, got.Msg.GetVideo().GetTitle())
		}
	}
	res, err := e.client.SearchVideos(t.Context(), req("", &metadatav1.SearchVideosRequest{Query: "hostile", PageSize: 50}))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Msg.GetVideos()); n != 6 {
		t.Errorf("search hostile: %d videos, want 6 (all but the two SQL ones)", n)
	}
	queries := []string{`"`, `*`, `NEAR`, `-`, `hostile"`, `"hostile`, `hostile*`, `-hostile`, `NOT hostile`, `hostile NEAR video`,
		`'; DROP TABLE videos; --`, `a:* & !b | c`, `🎬`, `عنوان`, `(hostile`, `{title}: hostile`, `\`, `%`}
	for _, q := range queries {
		if _, err := e.client.SearchVideos(t.Context(), req("", &metadatav1.SearchVideosRequest{Query: q})); err != nil {
			t.Errorf("SearchVideos(%q): %v", q, err)
		}
	}
	res, err = e.client.SearchVideos(t.Context(), req("", &metadatav1.SearchVideosRequest{Query: `عنوان`}))
	if err != nil || len(res.Msg.GetVideos()) != 1 {
		t.Errorf("Arabic search: %v videos, err %v; want 1", len(res.Msg.GetVideos()), err)
	}
	// Still all there: nothing was dropped.
	list, err := e.client.ListVideos(t.Context(), req("", &metadatav1.ListVideosRequest{PageSize: 100}))
	if err != nil || len(list.Msg.GetVideos()) != len(titles) {
		t.Errorf("after hostile input: %d videos listed, err %v; want %d", len(list.Msg.GetVideos()), err, len(titles))
	}
	for _, q := range []string{"", "a\x00b", strings.Repeat("a", 201), strings.Repeat("a ", 40)} {
		_, err := e.client.SearchVideos(t.Context(), req("", &metadatav1.SearchVideosRequest{Query: q}))
		wantCode(t, err, connect.CodeInvalidArgument)
	}
}

func TestAuthorization(t *testing.T) {
	e := newEnv(t)
	v := e.create(t, alice, "alice's")
	mask := &fieldmaskpb.FieldMask{Paths: []string{"title"}}
	update := func(who string) error {
		_, err := e.client.UpdateVideo(t.Context(), req(who, &metadatav1.UpdateVideoRequest{
			Video: &metadatav1.Video{Id: v.GetId(), Etag: v.GetEtag(), Title: "hijacked"}, UpdateMask: mask}))
		return err
	}
	wantCode(t, update(""), connect.CodeUnauthenticated)
	wantCode(t, update(bob), connect.CodePermissionDenied)
	wantCode(t, update("operator"), connect.CodeUnauthenticated) // an operator has no wallet; only the creator edits
	_, err := e.client.DeleteVideo(t.Context(), req(bob, &metadatav1.DeleteVideoRequest{VideoId: v.GetId()}))
	wantCode(t, err, connect.CodePermissionDenied)
	_, err = e.client.DeleteVideo(t.Context(), req("", &metadatav1.DeleteVideoRequest{VideoId: v.GetId()}))
	wantCode(t, err, connect.CodeUnauthenticated)

	got, err := e.client.GetVideo(t.Context(), req("", &metadatav1.GetVideoRequest{VideoId: v.GetId()}))
	if err != nil || got.Msg.GetVideo().GetTitle() != "alice's" {
		t.Fatalf("after refused writes: %v %v", got, err)
	}

	// Only the creator sees videos that are not READY in lists.
	own, err := e.client.ListVideos(t.Context(), req(alice, &metadatav1.ListVideosRequest{CreatorAddress: alice}))
	if err != nil || len(own.Msg.GetVideos()) != 1 {
		t.Errorf("alice lists her own: %d videos, err %v; want 1", len(own.Msg.GetVideos()), err)
	}
	ops, err := e.client.ListVideos(t.Context(), req("operator", &metadatav1.ListVideosRequest{CreatorAddress: alice}))
	if err != nil || len(ops.Msg.GetVideos()) != 1 || ops.Msg.GetVideos()[0].GetUploadId() != "upl_test" {
		t.Errorf("an operator lists alice's: %v, err %v; want her UPLOADING video in full", ops.Msg.GetVideos(), err)
	}
	for _, who := range []string{"", bob} {
		for _, st := range []metadatav1.VideoStatus{0, metadatav1.VideoStatus_VIDEO_STATUS_UPLOADING} {
			other, err := e.client.ListVideos(t.Context(), req(who, &metadatav1.ListVideosRequest{CreatorAddress: alice, Status: st}))
			if err != nil || len(other.Msg.GetVideos()) != 0 {
				t.Errorf("%q lists alice's (status %v): %d videos, err %v; want none", who, st, len(other.Msg.GetVideos()), err)
			}
		}
	}

	// Deleted: gone for others, visible to the creator and operators.
	del, err := e.client.DeleteVideo(t.Context(), req(alice, &metadatav1.DeleteVideoRequest{VideoId: v.GetId(), Etag: v.GetEtag()}))
	if err != nil {
		t.Fatal(err)
	}
	if del.Msg.GetVideo().GetStatus() != metadatav1.VideoStatus_VIDEO_STATUS_DELETED || del.Msg.GetVideo().GetStatusReason() != deletedReason {
		t.Errorf("deleted video: %v", del.Msg.GetVideo())
	}
	// Idempotent, even with the old etag.
	if _, err := e.client.DeleteVideo(t.Context(), req(alice, &metadatav1.DeleteVideoRequest{VideoId: v.GetId(), Etag: v.GetEtag()})); err != nil {
		t.Errorf("second delete: %v", err)
	}
	for who, code := range map[string]connect.Code{"": connect.CodeNotFound, bob: connect.CodeNotFound} {
		_, err := e.client.GetVideo(t.Context(), req(who, &metadatav1.GetVideoRequest{VideoId: v.GetId()}))
		wantCode(t, err, code)
	}
	_, err = e.client.DeleteVideo(t.Context(), req(bob, &metadatav1.DeleteVideoRequest{VideoId: v.GetId()}))
	wantCode(t, err, connect.CodeNotFound)
	for _, who := range []string{alice, "operator"} {
		if _, err := e.client.GetVideo(t.Context(), req(who, &metadatav1.GetVideoRequest{VideoId: v.GetId()})); err != nil {
			t.Errorf("%s gets the deleted video: %v", who, err)
		}
	}
	wantCode(t, update(alice), connect.CodeFailedPrecondition)
	pending, err := e.svc.store.PendingMediaDeletions(t.Context(), 10)
	if err != nil || len(pending) != 1 || pending[0].VideoID != v.GetId() {
		t.Errorf("media deletions %+v, err %v; want one for %s", pending, err, v.GetId())
	}
	_, err = e.client.GetVideo(t.Context(), req("", &metadatav1.GetVideoRequest{VideoId: "vid_nothere"}))
	wantCode(t, err, connect.CodeNotFound)
	_, err = e.client.GetVideo(t.Context(), req("", &metadatav1.GetVideoRequest{VideoId: "../../etc/passwd"}))
	wantCode(t, err, connect.CodeInvalidArgument)
}

// TestGatedVideoView pins down what a wallet that is not the creator sees
// of a gated video: the whole catalogue entry, policy included, but not the
// upload id.
func TestGatedVideoView(t *testing.T) {
	e := newEnv(t)
	v := e.create(t, alice, "Members only", func(m *metadatav1.CreateVideoRequest) {
		m.AccessPolicy = gatedPolicy()
		m.Description = "the pass gets you in"
		m.Tags = []string{"vip"}
	})
	e.makeReady(t, v.GetId())
	for _, who := range []string{"", bob} {
		res, err := e.client.GetVideo(t.Context(), req(who, &metadatav1.GetVideoRequest{VideoId: v.GetId()}))
		if err != nil {
			t.Fatal(err)
		}
		got := res.Msg.GetVideo()
		if got.GetTitle() != "Members only" || got.GetDescription() == "" || len(got.GetTags()) != 1 ||
			got.GetPosterPath() != "poster.jpg" || got.GetDuration().AsDuration() == 0 || len(got.GetRenditions()) != 2 ||
			got.GetHlsManifestPath() == "" || !proto.Equal(got.GetAccessPolicy(), gatedPolicy()) {
			t.Errorf("%q sees %v; want the whole catalogue entry", who, got)
		}
		if got.GetUploadId() != "" {
			t.Errorf("%q sees upload id %q", who, got.GetUploadId())
		}
	}
	res, err := e.client.GetVideo(t.Context(), req(alice, &metadatav1.GetVideoRequest{VideoId: v.GetId()}))
	if err != nil || res.Msg.GetVideo().GetUploadId() != "upl_test" {
		t.Errorf("creator sees upload id %q, err %v", res.Msg.GetVideo().GetUploadId(), err)
	}
	gated, err := e.client.ListVideos(t.Context(), req("", &metadatav1.ListVideosRequest{Gated: metadatav1.GatedFilter_GATED_FILTER_GATED}))
	if err != nil || len(gated.Msg.GetVideos()) != 1 {
		t.Errorf("gated filter: %d videos, err %v", len(gated.Msg.GetVideos()), err)
	}
	public, err := e.client.ListVideos(t.Context(), req("", &metadatav1.ListVideosRequest{Gated: metadatav1.GatedFilter_GATED_FILTER_PUBLIC}))
	if err != nil || len(public.Msg.GetVideos()) != 0 {
		t.Errorf("public filter: %d videos, err %v", len(public.Msg.GetVideos()), err)
	}
}

func TestUpdateVideo(t *testing.T) {
	e := newEnv(t)
	v := e.create(t, alice, "before", func(m *metadatav1.CreateVideoRequest) { m.Tags = []string{"old"} })
	res, err := e.client.UpdateVideo(t.Context(), req(alice, &metadatav1.UpdateVideoRequest{
		Video:      &metadatav1.Video{Id: v.GetId(), Etag: v.GetEtag(), Title: "after", Tags: []string{"New"}, Description: "ignored", AccessPolicy: gatedPolicy()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title", "tags", "access_policy"}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := res.Msg.GetVideo()
	if got.GetTitle() != "after" || strings.Join(got.GetTags(), ",") != "new" || got.GetDescription() != "" ||
		got.GetAccessPolicy() == nil || got.GetEtag() == v.GetEtag() {
		t.Errorf("updated: %v", got)
	}
	bad := []struct {
		name string
		m    *metadatav1.UpdateVideoRequest
		code connect.Code
	}{
		{"stale etag", &metadatav1.UpdateVideoRequest{Video: &metadatav1.Video{Id: v.GetId(), Etag: v.GetEtag(), Title: "x"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}}, connect.CodeAborted},
		{"no etag", &metadatav1.UpdateVideoRequest{Video: &metadatav1.Video{Id: v.GetId(), Title: "x"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}}, connect.CodeInvalidArgument},
		{"garbage etag", &metadatav1.UpdateVideoRequest{Video: &metadatav1.Video{Id: v.GetId(), Etag: "'; --", Title: "x"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}}, connect.CodeInvalidArgument},
		{"empty mask", &metadatav1.UpdateVideoRequest{Video: &metadatav1.Video{Id: v.GetId(), Etag: got.GetEtag(), Title: "x"}}, connect.CodeInvalidArgument},
		{"status not editable", &metadatav1.UpdateVideoRequest{Video: &metadatav1.Video{Id: v.GetId(), Etag: got.GetEtag(), Status: 3},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"status"}}}, connect.CodeInvalidArgument},
		{"bad title", &metadatav1.UpdateVideoRequest{Video: &metadatav1.Video{Id: v.GetId(), Etag: got.GetEtag(), Title: "a\x00"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}}, connect.CodeInvalidArgument},
		{"missing", &metadatav1.UpdateVideoRequest{Video: &metadatav1.Video{Id: "vid_missing", Etag: got.GetEtag(), Title: "x"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}}, connect.CodeNotFound},
	}
	for _, o := range []string{"null", "*", "https://*.example.com", "https://site.example/embed", "ftp://site.example", "site.example",
		"javascript:alert(1)", "https://user@site.example"} {
		bad = append(bad, struct {
			name string
			m    *metadatav1.UpdateVideoRequest
			code connect.Code
		}{"allowed origin " + o, &metadatav1.UpdateVideoRequest{Video: &metadatav1.Video{Id: v.GetId(), Etag: got.GetEtag(), AllowedOrigins: []string{o}},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"allowed_origins"}}}, connect.CodeInvalidArgument})
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client.UpdateVideo(t.Context(), req(alice, tt.m))
			wantCode(t, err, tt.code)
		})
	}
	after, _ := e.client.GetVideo(t.Context(), req(alice, &metadatav1.GetVideoRequest{VideoId: v.GetId()}))
	if after.Msg.GetVideo().GetEtag() != got.GetEtag() {
		t.Error("a refused update changed the video")
	}
	// Allowed origins are normalised and deduplicated; an empty list is any.
	res, err = e.client.UpdateVideo(t.Context(), req(alice, &metadatav1.UpdateVideoRequest{
		Video:      &metadatav1.Video{Id: v.GetId(), Etag: got.GetEtag(), AllowedOrigins: []string{"HTTPS://Site.Example:443/", "https://site.example", "http://127.0.0.1:8081"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"allowed_origins"}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if o := res.Msg.GetVideo().GetAllowedOrigins(); strings.Join(o, " ") != "https://site.example http://127.0.0.1:8081" {
		t.Errorf("allowed origins = %q; want the two, normalised", o)
	}
	if res.Msg.GetVideo().GetTitle() != "after" {
		t.Errorf("an allowed_origins update changed the title to %q", res.Msg.GetVideo().GetTitle())
	}
	got = res.Msg.GetVideo()
	tooMany := make([]string, 33)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("https://s%d.example", i)
	}
	_, err = e.client.UpdateVideo(t.Context(), req(alice, &metadatav1.UpdateVideoRequest{
		Video: &metadatav1.Video{Id: v.GetId(), Etag: got.GetEtag(), AllowedOrigins: tooMany}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"allowed_origins"}},
	}))
	wantCode(t, err, connect.CodeInvalidArgument)
	// Delete checks the etag too.
	_, err = e.client.DeleteVideo(t.Context(), req(alice, &metadatav1.DeleteVideoRequest{VideoId: v.GetId(), Etag: v.GetEtag()}))
	wantCode(t, err, connect.CodeAborted)
	if _, err := e.client.DeleteVideo(t.Context(), req(alice, &metadatav1.DeleteVideoRequest{VideoId: v.GetId(), Etag: got.GetEtag()})); err != nil {
		t.Errorf("delete with the current etag: %v", err)
	}
}

// TestConcurrentUpdates sends updates carrying the same etag at once:
// exactly one wins, the others get ABORTED.
func TestConcurrentUpdates(t *testing.T) {
	e := newEnv(t)
	v := e.create(t, alice, "contended")
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = e.client.UpdateVideo(t.Context(), req(alice, &metadatav1.UpdateVideoRequest{
				Video:      &metadatav1.Video{Id: v.GetId(), Etag: v.GetEtag(), Title: fmt.Sprintf("writer %d", i)},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
			}))
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch connect.CodeOf(err) {
		case connect.CodeAborted:
		default:
			if err != nil {
				t.Errorf("update: %v, want nil or ABORTED", err)
				continue
			}
			ok++
		}
	}
	if ok != 1 {
		t.Errorf("%d updates with one etag succeeded, want 1 (errors %v)", ok, errs)
	}
}

func TestListVideosPages(t *testing.T) {
	e := newEnv(t)
	var all []string
	for i := range 7 {
		v := e.create(t, alice, fmt.Sprintf("clip %d", i), func(m *metadatav1.CreateVideoRequest) { m.Tags = []string{"series"} })
		e.makeReady(t, v.GetId())
		all = append([]string{v.GetId()}, all...) // newest first
	}
	var got []string
	token := ""
	for range 10 {
		res, err := e.client.ListVideos(t.Context(), req("", &metadatav1.ListVideosRequest{PageSize: 3, PageToken: token, Tag: "SERIES"}))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range res.Msg.GetVideos() {
			got = append(got, v.GetId())
		}
		token = res.Msg.GetNextPageToken()
		if token == "" {
			break
		}
		// A token is bound to its filters.
		_, err = e.client.ListVideos(t.Context(), req("", &metadatav1.ListVideosRequest{PageSize: 3, PageToken: token, Tag: "other"}))
		wantCode(t, err, connect.CodeInvalidArgument)
		_, err = e.client.ListVideos(t.Context(), req("", &metadatav1.ListVideosRequest{PageSize: 3, PageToken: token, Tag: "series", CreatorAddress: bob}))
		wantCode(t, err, connect.CodeInvalidArgument)
	}
	if strings.Join(got, ",") != strings.Join(all, ",") {
		t.Errorf("pages gave %v, want %v", got, all)
	}
	for _, m := range []*metadatav1.ListVideosRequest{
		{PageToken: "garbage!"},
		{PageToken: "eyJ0IjoxfQ"}, // {"t":1}
		{PageSize: -1},
		{CreatorAddress: "alice"},
		{Tag: "no spaces"},
		{Status: 42},
		{Gated: 9},
	} {
		_, err := e.client.ListVideos(t.Context(), req("", m))
		wantCode(t, err, connect.CodeInvalidArgument)
	}
}

func TestSearchVideosPages(t *testing.T) {
	e := newEnv(t)
	best := e.create(t, alice, "Harbour sunset", func(m *metadatav1.CreateVideoRequest) { m.Tags = []string{"harbour"} })
	e.makeReady(t, best.GetId())
	for i := range 6 {
		v := e.create(t, bob, fmt.Sprintf("Clip %d", i), func(m *metadatav1.CreateVideoRequest) { m.Description = "a harbour somewhere" })
		e.makeReady(t, v.GetId())
	}
	var got []string
	token := ""
	for range 10 {
		res, err := e.client.SearchVideos(t.Context(), req("", &metadatav1.SearchVideosRequest{Query: "HARB", PageSize: 4, PageToken: token}))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range res.Msg.GetVideos() {
			got = append(got, v.GetId())
		}
		if token = res.Msg.GetNextPageToken(); token == "" {
			break
		}
		_, err = e.client.SearchVideos(t.Context(), req("", &metadatav1.SearchVideosRequest{Query: "sunset", PageToken: token}))
		wantCode(t, err, connect.CodeInvalidArgument)
	}
	if len(got) != 7 || got[0] != best.GetId() {
		t.Errorf("search pages: %v, want 7 with %s first", got, best.GetId())
	}
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Errorf("%s on two pages", id)
		}
		seen[id] = true
	}
}
