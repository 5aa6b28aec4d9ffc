// Package storetest is the suite every metadata store engine must pass:
// round trips of every field (hostile and non-Latin strings included),
// idempotent creates, optimistic concurrency, soft delete with its outbox,
// guarded status transitions (redelivered at once, and racing the create),
// list order, filters and keyset pages, and ranked, paged full-text search.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/services/metadata"
	"github.com/streamgate/streamgate/services/metadata/store"
)

// Opener returns an empty store for one test; the store is closed by the
// suite.
type Opener func(t *testing.T) metadata.Store

// Run runs the suite, each case on a fresh store.
func Run(t *testing.T, open Opener) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s metadata.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"HostileStrings", testHostileStrings},
		{"CreateIdempotent", testCreateIdempotent},
		{"UpdateVersion", testUpdateVersion},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"Delete", testDelete},
		{"Transitions", testTransitions},
		{"ConcurrentEvents", testConcurrentEvents},
		{"ListOrderAndPages", testListOrderAndPages},
		{"ListFilters", testListFilters},
		{"Search", testSearch},
		{"SearchPages", testSearchPages},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			c.fn(t, s)
		})
	}
}

const (
	alice = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	bob   = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
)

var base = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

var seq int

// newVideo returns an UPLOADING video created at base + n seconds.
func newVideo(n int, creator, title string, tags ...string) *store.Video {
	seq++
	id := fmt.Sprintf("vid_%026d", seq)
	ct := base.Add(time.Duration(n) * time.Second)
	return &store.Video{
		ID: id, Creator: creator, Title: title, Tags: tags,
		Status: store.StatusUploading, CreateTime: ct, UpdateTime: ct,
	}
}

func gatedPolicy() *authv1.AccessPolicy {
	id := "7"
	return &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ALL, Rules: []*authv1.AccessRule{{
		ChainId: 1337, ContractAddress: bob, Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721, TokenId: &id,
	}}}
}

func create(t *testing.T, s metadata.Store, v *store.Video) *store.Video {
	t.Helper()
	got, created, err := s.CreateVideo(t.Context(), v)
	if err != nil {
		t.Fatalf("CreateVideo(%s): %v", v.ID, err)
	}
	if !created {
		t.Fatalf("CreateVideo(%s): created false", v.ID)
	}
	return got
}

func diffVideo(t *testing.T, got, want *store.Video) {
	t.Helper()
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Errorf("video mismatch (-want +got):\n%s", d)
	}
}

func testRoundTrip(t *testing.T, s metadata.Store) {
	v := newVideo(0, alice, "Première vidéo — 日本語 🎬", "music", "lo-fi")
	v.RequestID = "req-1"
	v.Description = "line one\nline two\ttabbed"
	v.Policy = gatedPolicy()
	v.Gated = true
	v.UploadID = "upl_1"
	v.AllowedOrigins = []string{"https://site.example", "http://127.0.0.1:8081"}
	v.Packaging = metadatav1.Packaging_PACKAGING_ENCRYPTED
	v.Encrypted = true
	v.Duration = 20500 * time.Millisecond
	v.MediaInfo = &metadatav1.MediaInfo{FormatName: "mov,mp4", Duration: durationpb.New(20 * time.Second), SizeBytes: 1 << 20,
		Video: &metadatav1.VideoStreamInfo{Codec: "h264", Width: 1280, Height: 720, FrameRate: 29.97}}
	got := create(t, s, v)
	want := *v
	want.Version = 1
	diffVideo(t, got, &want)

	again, err := s.GetVideo(t.Context(), v.ID)
	if err != nil {
		t.Fatal(err)
	}
	diffVideo(t, again, &want)

	if _, err := s.GetVideo(t.Context(), "vid_missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetVideo(missing): %v, want ErrNotFound", err)
	}
	dup := *v
	dup.RequestID = ""
	if _, _, err := s.CreateVideo(t.Context(), &dup); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateVideo(same id): %v, want ErrExists", err)
	}
}

// HostileTitles are stored and returned byte for byte; the service rejects
// NUL and control characters before they reach a store.
var HostileTitles = []string{
	`'; DROP TABLE videos; --`,
	`" OR 1=1 --`,
	`Robert'); DELETE FROM video_tags;--`,
	`NEAR(a b) AND NOT c OR d*`,
	`"unterminated`,
	`title:hack {col1 col2}: x ^start`,
	`\x00 is not NUL \\ backslash %_ like wildcards`,
	`عنوان عربي RTL ‏mixed‎`,
	`🎬🎉👩‍👩‍👧 emoji zwj`,
	`Ｆｕｌｌｗｉｄｔｈ ｓｐａｃｅ`,
	`e` + "\u0301" + ` combining`,
	`$1 $$ :name ?`,
}

func testHostileStrings(t *testing.T, s metadata.Store) {
	for i, title := range HostileTitles {
		v := newVideo(i, alice, title, "a-b", "x")
		v.Description = title + " " + title
		create(t, s, v)
		got, err := s.GetVideo(t.Context(), v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Title != title || got.Description != v.Description {
			t.Errorf("title %q came back as %q", title, got.Title)
		}
	}
	list, err := s.ListVideos(t.Context(), store.ListQuery{Creator: alice, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(HostileTitles) {
		t.Errorf("listed %d videos, want %d: a hostile string broke a row", len(list), len(HostileTitles))
	}
}

func testCreateIdempotent(t *testing.T, s metadata.Store) {
	v := newVideo(0, alice, "first")
	v.RequestID = "req-same"
	first := create(t, s, v)

	retry := newVideo(1, alice, "retry with another id and title")
	retry.RequestID = "req-same"
	got, created, err := s.CreateVideo(t.Context(), retry)
	if err != nil {
		t.Fatal(err)
	}
	if created || got.ID != first.ID || got.Title != "first" {
		t.Errorf("retry: created %v id %s title %q, want the first video %s", created, got.ID, got.Title, first.ID)
	}

	other := newVideo(2, bob, "bob's")
	other.RequestID = "req-same"
	got = create(t, s, other)
	if got.ID == first.ID {
		t.Error("another creator's request id returned alice's video")
	}

	// Concurrent retries of one request create one video.
	var wg sync.WaitGroup
	ids := make([]string, 8)
	errs := make([]error, 8)
	for i := range ids {
		wg.Go(func() {
			v := newVideoLocked(i, bob, "race")
			v.RequestID = "req-race"
			got, _, err := s.CreateVideo(context.WithoutCancel(t.Context()), v)
			errs[i] = err
			if err == nil {
				ids[i] = got.ID
			}
		})
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil {
			t.Fatalf("concurrent create %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("concurrent creates returned %v, want one id", ids)
		}
	}
}

var seqMu sync.Mutex

func newVideoLocked(n int, creator, title string) *store.Video {
	seqMu.Lock()
	defer seqMu.Unlock()
	return newVideo(n, creator, title)
}

func testUpdateVersion(t *testing.T, s metadata.Store) {
	v := create(t, s, newVideo(0, alice, "before", "old"))
	e := store.Edit{Title: "after", Description: "d", Tags: []string{"new", "tags"}, Policy: gatedPolicy(), Gated: true,
		AllowedOrigins: []string{"https://a.example"}, Packaging: metadatav1.Packaging_PACKAGING_CLEAR}
	got, err := s.UpdateVideo(t.Context(), v.ID, v.Version, e)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != v.Version+1 || got.Title != "after" || !slices.Equal(got.Tags, e.Tags) || !got.Gated || got.Policy == nil ||
		!slices.Equal(got.AllowedOrigins, e.AllowedOrigins) || got.Packaging != e.Packaging {
		t.Errorf("after update: %+v", got)
	}
	if got.UpdateTime.Before(v.UpdateTime) {
		t.Errorf("update time went back: %v -> %v", v.UpdateTime, got.UpdateTime)
	}
	if _, err := s.UpdateVideo(t.Context(), v.ID, v.Version, e); !errors.Is(err, store.ErrConflict) {
		t.Errorf("stale version: %v, want ErrConflict", err)
	}
	if _, err := s.UpdateVideo(t.Context(), "vid_missing", 1, e); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing: %v, want ErrNotFound", err)
	}
	// The tag filter follows the new tags.
	list, err := s.ListVideos(t.Context(), store.ListQuery{Tag: "old", Limit: 10})
	if err != nil || len(list) != 0 {
		t.Errorf("tag old after update: %d videos, err %v; want none", len(list), err)
	}
	list, err = s.ListVideos(t.Context(), store.ListQuery{Tag: "tags", Limit: 10})
	if err != nil || len(list) != 1 {
		t.Errorf("tag tags after update: %d videos, err %v; want 1", len(list), err)
	}
}

func testConcurrentUpdates(t *testing.T, s metadata.Store) {
	v := create(t, s, newVideo(0, alice, "contended"))
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.UpdateVideo(context.WithoutCancel(t.Context()), v.ID, v.Version, store.Edit{Title: fmt.Sprintf("writer %d", i)})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("concurrent update: %v, want nil or ErrConflict", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d updates with the same version succeeded, want exactly 1", ok, n)
	}
	got, _ := s.GetVideo(t.Context(), v.ID)
	if got.Version != v.Version+1 {
		t.Errorf("version %d, want %d", got.Version, v.Version+1)
	}
}

func testDelete(t *testing.T, s metadata.Store) {
	v := create(t, s, newVideo(0, alice, "doomed"))
	if _, _, err := s.DeleteVideo(t.Context(), v.ID, v.Version+5, "deleted by creator"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("stale version: %v, want ErrConflict", err)
	}
	got, changed, err := s.DeleteVideo(t.Context(), v.ID, v.Version, "deleted by creator")
	if err != nil || !changed {
		t.Fatalf("DeleteVideo: changed %v err %v", changed, err)
	}
	if got.Status != store.StatusDeleted || got.StatusReason != "deleted by creator" || got.Version != v.Version+1 {
		t.Errorf("after delete: status %v reason %q version %d", got.Status, got.StatusReason, got.Version)
	}
	again, changed, err := s.DeleteVideo(t.Context(), v.ID, 0, "again")
	if err != nil || changed || again.Version != got.Version || again.StatusReason != "deleted by creator" {
		t.Errorf("second delete: changed %v err %v version %d", changed, err, again.Version)
	}
	if _, _, err := s.DeleteVideo(t.Context(), "vid_missing", 0, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing: %v, want ErrNotFound", err)
	}
	pending, err := s.PendingMediaDeletions(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].VideoID != v.ID {
		t.Errorf("pending media deletions %+v, want one for %s", pending, v.ID)
	}
	// Completing the removal takes it off the list, once and for all.
	for range 2 {
		if err := s.CompleteMediaDeletion(t.Context(), v.ID, time.Now()); err != nil {
			t.Fatalf("CompleteMediaDeletion: %v", err)
		}
	}
	if pending, err := s.PendingMediaDeletions(t.Context(), 10); err != nil || len(pending) != 0 {
		t.Errorf("pending after completion %+v, %v; want none", pending, err)
	}
	if err := s.CompleteMediaDeletion(t.Context(), "vid_missing", time.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("complete missing: %v, want ErrNotFound", err)
	}
	// No event moves a deleted video.
	if _, changed, err := s.MarkReady(t.Context(), store.Ready{VideoID: v.ID}); err != nil || changed {
		t.Errorf("MarkReady on deleted: changed %v err %v", changed, err)
	}
	if _, changed, err := s.MarkProcessing(t.Context(), store.Processing{VideoID: v.ID}); err != nil || changed {
		t.Errorf("MarkProcessing on deleted: changed %v err %v", changed, err)
	}
}

func testTransitions(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	v := create(t, s, newVideo(0, alice, "flow"))
	p := store.Processing{VideoID: v.ID, UploadID: "upl_9", Duration: 12 * time.Second,
		MediaInfo: &metadatav1.MediaInfo{FormatName: "mp4"}}
	got, changed, err := s.MarkProcessing(ctx, p)
	if err != nil || !changed || got.Status != store.StatusProcessing || got.UploadID != "upl_9" || got.Duration != 12*time.Second {
		t.Fatalf("MarkProcessing: changed %v err %v video %+v", changed, err, got)
	}
	if _, changed, _ := s.MarkProcessing(ctx, p); changed {
		t.Error("redelivered MarkProcessing changed the video")
	}
	r := store.Ready{VideoID: v.ID, Duration: 12 * time.Second, PosterPath: "poster.jpg", Storyboard: "storyboard.vtt",
		HLSPath: "master.m3u8", DASHPath: "manifest.mpd", Encrypted: true, Renditions: []*metadatav1.Rendition{
			{Name: "720p", Width: 1280, Height: 720, FrameRate: 30, Codecs: []string{"avc1.64001f", "mp4a.40.2"}, BandwidthBps: 3_000_000, SegmentCount: 6, SizeBytes: 4 << 20, PlaylistPath: "720p/index.m3u8"},
			{Name: "360p", Width: 640, Height: 360, FrameRate: 30, Codecs: []string{"avc1.4d401e"}, BandwidthBps: 800_000},
		}}
	got, changed, err = s.MarkReady(ctx, r)
	if err != nil || !changed || got.Status != store.StatusReady || got.HLSPath != "master.m3u8" || len(got.Renditions) != 2 || !got.Encrypted {
		t.Fatalf("MarkReady: changed %v err %v video %+v", changed, err, got)
	}
	if d := cmp.Diff(r.Renditions, got.Renditions, protocmp.Transform()); d != "" {
		t.Errorf("renditions (-want +got):\n%s", d)
	}
	version := got.Version
	if _, changed, _ := s.MarkReady(ctx, r); changed {
		t.Error("redelivered MarkReady changed the video")
	}
	// A stale upload.completed must not move READY back to PROCESSING, and
	// a late failure must not fail a READY video.
	if _, changed, _ := s.MarkProcessing(ctx, p); changed {
		t.Error("MarkProcessing moved a READY video")
	}
	if _, changed, _ := s.MarkFailed(ctx, v.ID, "late"); changed {
		t.Error("MarkFailed moved a READY video")
	}
	got, _ = s.GetVideo(ctx, v.ID)
	if got.Status != store.StatusReady || got.Version != version {
		t.Errorf("after stale events: status %v version %d, want READY %d", got.Status, got.Version, version)
	}

	w := create(t, s, newVideo(1, alice, "broken"))
	got, changed, err = s.MarkFailed(ctx, w.ID, "ffmpeg: invalid data")
	if err != nil || !changed || got.Status != store.StatusFailed || got.StatusReason != "ffmpeg: invalid data" {
		t.Fatalf("MarkFailed: changed %v err %v video %+v", changed, err, got)
	}
	if _, changed, _ := s.MarkReady(ctx, store.Ready{VideoID: w.ID}); changed {
		t.Error("MarkReady moved a FAILED video")
	}

	if _, _, err := s.MarkProcessing(ctx, store.Processing{VideoID: "vid_nope"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MarkProcessing(missing): %v, want ErrNotFound", err)
	}
	if _, _, err := s.MarkReady(ctx, store.Ready{VideoID: "vid_nope"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MarkReady(missing): %v, want ErrNotFound", err)
	}
}

// concurrently runs n calls of fn at once and returns how many reported a
// change; it fails the test on any error.
func concurrently(t *testing.T, n int, fn func(ctx context.Context) (bool, error)) int {
	t.Helper()
	var wg sync.WaitGroup
	changed := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { changed[i], errs[i] = fn(context.WithoutCancel(t.Context())) })
	}
	wg.Wait()
	count := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d of %d: %v", i+1, n, errs[i])
		}
		if changed[i] {
			count++
		}
	}
	return count
}

// testConcurrentEvents delivers each event several times at once, as
// redeliveries to several instances do: exactly one delivery changes the
// video and says so.
func testConcurrentEvents(t *testing.T, s metadata.Store) {
	const n = 8
	v := create(t, s, newVideo(0, bob, "moved by racing deliveries"))
	p := store.Processing{VideoID: v.ID, UploadID: "upl_race"}
	if got := concurrently(t, n, func(ctx context.Context) (bool, error) {
		_, changed, err := s.MarkProcessing(ctx, p)
		return changed, err
	}); got != 1 {
		t.Errorf("MarkProcessing delivered %d times at once: %d changed, want 1", n, got)
	}
	if got := concurrently(t, n, func(ctx context.Context) (bool, error) {
		_, changed, err := s.MarkReady(ctx, store.Ready{VideoID: v.ID, HLSPath: "master.m3u8"})
		return changed, err
	}); got != 1 {
		t.Errorf("MarkReady delivered %d times at once: %d changed, want 1", n, got)
	}
	if got := concurrently(t, n, func(ctx context.Context) (bool, error) {
		_, changed, err := s.DeleteVideo(ctx, v.ID, 0, "deleted by creator")
		return changed, err
	}); got != 1 {
		t.Errorf("DeleteVideo %d times at once: %d changed, want 1", n, got)
	}
	got, err := s.GetVideo(t.Context(), v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.StatusDeleted || got.Version != 4 {
		t.Errorf("after processing, ready and delete: status %v version %d, want DELETED 4", got.Status, got.Version)
	}
	if pending, err := s.PendingMediaDeletions(t.Context(), 10); err != nil || len(pending) != 1 {
		t.Errorf("pending media deletions %+v, %v; want one", pending, err)
	}
}

// ready creates a READY video.
func ready(t *testing.T, s metadata.Store, v *store.Video) *store.Video {
	t.Helper()
	create(t, s, v)
	got, changed, err := s.MarkReady(t.Context(), store.Ready{VideoID: v.ID, PosterPath: "poster.jpg"})
	if err != nil || !changed {
		t.Fatalf("MarkReady: %v %v", changed, err)
	}
	return got
}

func ids(vs []*store.Video) []string {
	if len(vs) == 0 {
		return nil
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.ID
	}
	return out
}

func testListOrderAndPages(t *testing.T, s metadata.Store) {
	// 25 videos, with create-time ties in threes so the id breaks them.
	for i := range 25 {
		ready(t, s, newVideo(i/3, alice, fmt.Sprintf("v%d", i)))
	}
	// Expected order: create time desc, then id desc.
	all, err := s.ListVideos(t.Context(), store.ListQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(all); i++ {
		a, b := all[i-1], all[i]
		if a.CreateTime.Before(b.CreateTime) || (a.CreateTime.Equal(b.CreateTime) && a.ID < b.ID) {
			t.Fatalf("out of order at %d: %s@%v before %s@%v", i, a.ID, a.CreateTime, b.ID, b.CreateTime)
		}
	}
	var paged []string
	q := store.ListQuery{Statuses: []store.Status{store.StatusReady}, Limit: 7}
	for range 10 {
		page, err := s.ListVideos(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, ids(page)...)
		if len(page) < q.Limit {
			break
		}
		last := page[len(page)-1]
		q.After = &store.Cursor{CreateTime: last.CreateTime, ID: last.ID}
	}
	if d := cmp.Diff(ids(all), paged); d != "" {
		t.Errorf("pages differ from one list (-all +paged):\n%s", d)
	}
}

func testListFilters(t *testing.T, s metadata.Store) {
	a1 := ready(t, s, newVideo(1, alice, "a1", "music", "live"))
	a2 := create(t, s, newVideo(2, alice, "a2 uploading", "music"))
	gated := newVideo(3, bob, "b1 gated", "music")
	gated.Policy, gated.Gated = gatedPolicy(), true
	b1 := ready(t, s, gated)
	b2 := ready(t, s, newVideo(4, bob, "b2", "talk"))
	yes, no := true, false
	tests := []struct {
		name string
		q    store.ListQuery
		want []string
	}{
		{"all", store.ListQuery{}, []string{b2.ID, b1.ID, a2.ID, a1.ID}},
		{"ready", store.ListQuery{Statuses: []store.Status{store.StatusReady}}, []string{b2.ID, b1.ID, a1.ID}},
		{"creator", store.ListQuery{Creator: alice}, []string{a2.ID, a1.ID}},
		{"creator and statuses", store.ListQuery{Creator: alice, Statuses: []store.Status{store.StatusUploading, store.StatusProcessing}}, []string{a2.ID}},
		{"tag", store.ListQuery{Tag: "music"}, []string{b1.ID, a2.ID, a1.ID}},
		{"tag and ready", store.ListQuery{Tag: "music", Statuses: []store.Status{store.StatusReady}}, []string{b1.ID, a1.ID}},
		{"gated", store.ListQuery{Gated: &yes}, []string{b1.ID}},
		{"public ready", store.ListQuery{Gated: &no, Statuses: []store.Status{store.StatusReady}}, []string{b2.ID, a1.ID}},
		{"unknown tag", store.ListQuery{Tag: "nope"}, nil},
		{"hostile tag", store.ListQuery{Tag: "' OR 1=1 --"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.Limit = 50
			got, err := s.ListVideos(t.Context(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, ids(got)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func search(t *testing.T, s metadata.Store, words ...string) []string {
	t.Helper()
	got, err := s.SearchVideos(t.Context(), store.SearchQuery{Words: words, Limit: 50})
	if err != nil {
		t.Fatalf("SearchVideos(%q): %v", words, err)
	}
	return ids(got)
}

func testSearch(t *testing.T, s metadata.Store) {
	inTitle := newVideo(1, alice, "Sunset timelapse over the harbour", "nature")
	inTitle.Description = "filmed in spring"
	titleV := ready(t, s, inTitle)
	inTags := newVideo(2, alice, "Evening clip", "sunset", "harbour")
	tagsV := ready(t, s, inTags)
	inDesc := newVideo(3, alice, "Random footage", "misc")
	inDesc.Description = "somewhere near a harbour, a sunset maybe, and many other words that dilute the match"
	descV := ready(t, s, inDesc)
	uploading := newVideo(4, alice, "Sunset harbour unlisted")
	create(t, s, uploading)
	intl := newVideo(5, bob, "Café crème à Paris — 東京 Москва", "travel")
	intlV := ready(t, s, intl)

	// Title outranks tags outranks description.
	if d := cmp.Diff([]string{titleV.ID, tagsV.ID, descV.ID}, search(t, s, "sunset", "harbour")); d != "" {
		t.Errorf("ranking (-want +got):\n%s", d)
	}
	// Every word must match.
	if d := cmp.Diff([]string{titleV.ID}, search(t, s, "sunset", "timelapse")); d != "" {
		t.Errorf("all words (-want +got):\n%s", d)
	}
	// The last word is a prefix; earlier ones are not.
	if d := cmp.Diff([]string{titleV.ID}, search(t, s, "sunset", "timel")); d != "" {
		t.Errorf("prefix (-want +got):\n%s", d)
	}
	if got := search(t, s, "timel", "sunset"); len(got) != 0 {
		t.Errorf("non-final prefix matched %v", got)
	}
	// Case-insensitive; non-Latin words.
	if got := search(t, s, "МОСКВА"); len(got) != 1 || got[0] != intlV.ID {
		t.Errorf("МОСКВА: %v, want %s", got, intlV.ID)
	}
	if got := search(t, s, "café"); len(got) != 1 || got[0] != intlV.ID {
		t.Errorf("café: %v, want %s", got, intlV.ID)
	}
	if got := search(t, s, "paris"); len(got) != 1 {
		t.Errorf("paris: %v", got)
	}
	// Operators and quotes in words are plain text, never syntax.
	for _, w := range [][]string{{`"`}, {`*`}, {`NEAR`}, {`-`, `sunset`}, {`sunset"`, `OR`}, {`'`, `\`}, {`a:*`}, {`!`, `&`, `|`}, {`(`}} {
		if _, err := s.SearchVideos(t.Context(), store.SearchQuery{Words: w, Limit: 10}); err != nil {
			t.Errorf("SearchVideos(%q): %v", w, err)
		}
	}
	if got := search(t, s, "unlisted"); len(got) != 0 {
		t.Errorf("a video that is not READY was found: %v", got)
	}
}

func testSearchPages(t *testing.T, s metadata.Store) {
	for i := range 23 {
		ready(t, s, newVideo(i, alice, fmt.Sprintf("Concert number %d", i), "concert"))
	}
	all, err := s.SearchVideos(t.Context(), store.SearchQuery{Words: []string{"concert"}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 23 {
		t.Fatalf("found %d, want 23", len(all))
	}
	var paged []string
	for off := 0; off < 30; off += 10 {
		page, err := s.SearchVideos(t.Context(), store.SearchQuery{Words: []string{"concert"}, Offset: off, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, ids(page)...)
	}
	if d := cmp.Diff(ids(all), paged); d != "" {
		t.Errorf("pages differ from one search (-all +paged):\n%s", d)
	}
}
