package upload

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
	"github.com/streamgate/streamgate/internal/testing/pgtest"
)

// storeBackend opens two stores on one fresh database: two instances on
// PostgreSQL; the same store twice on SQLite, which is single-instance.
type storeBackend struct {
	name string
	open func(t *testing.T) (a, b *store)
}

// storeBackends starts one PostgreSQL server for the calling test.
func storeBackends(t *testing.T) []storeBackend {
	srv := pgtest.Start(t)
	return []storeBackend{
		{"sqlite", func(t *testing.T) (*store, *store) {
			s, err := openSQLite(t.Context(), filepath.Join(t.TempDir(), "upload.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, s
		}},
		{"postgres", func(t *testing.T) (*store, *store) {
			url := srv.NewDatabase(t)
			var out [2]*store
			for i := range out {
				s, err := openPostgres(t.Context(), url)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				out[i] = s
			}
			return out[0], out[1]
		}},
	}
}

var storeT0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func testRecord(id, creator, requestID string, size uint64, at time.Time) *record {
	return &record{
		ID: id, Creator: creator, RequestID: requestID, RequestHash: "h-" + requestID,
		Title: "title " + id, Description: "desc", Tags: []string{"a", "b"},
		Policy: &authv1.AccessPolicy{}, Size: size, ContentType: "video/mp4", Filename: id + ".mp4",
		State: stateCreated, CreateTime: at, UpdateTime: at, ExpireTime: at.Add(time.Hour),
	}
}

// mustReserve records rec for its creator unconditionally.
func mustReserve(t *testing.T, s *store, rec *record) {
	t.Helper()
	got, err := s.reserve(t.Context(), rec.Creator, rec.RequestID, func(prev *record, _ usage) (*record, error) {
		if prev != nil {
			return nil, fmt.Errorf("request %s already used by %s", rec.RequestID, prev.ID)
		}
		return rec, nil
	})
	if err != nil || got != rec {
		t.Fatalf("reserve %s: %v, %v", rec.ID, got, err)
	}
}

func mustGet(t *testing.T, s *store, id string) *record {
	t.Helper()
	r, err := s.get(t.Context(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return r
}

// TestStore runs the store's contract against both engines; a and b are
// two instances on PostgreSQL, so what one writes the other must see.
func TestStore(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, a, b *store)
	}{
		{"RoundTrip", func(t *testing.T, a, b *store) {
			rec := testRecord("upl_1", "0xA", "r1", 1000, storeT0)
			rec.Policy = &authv1.AccessPolicy{Rules: []*authv1.AccessRule{{}}}
			mustReserve(t, a, rec)
			got := mustGet(t, b, "upl_1")
			if got.Title != rec.Title || got.Size != 1000 || got.State != stateCreated || !slices.Equal(got.Tags, rec.Tags) ||
				!got.CreateTime.Equal(storeT0) || !got.ExpireTime.Equal(storeT0.Add(time.Hour)) || !proto.Equal(got.Policy, rec.Policy) ||
				got.MediaInfo != nil || got.VideoID != "" {
				t.Fatalf("get = %+v, want %+v", got, rec)
			}
			if _, err := b.get(t.Context(), "upl_missing"); !errors.Is(err, errNotFound) {
				t.Fatalf("get missing: err = %v, want errNotFound", err)
			}
		}},
		{"ReserveReturnsTheUploadOfARequest", func(t *testing.T, a, b *store) {
			rec := testRecord("upl_1", "0xA", "r1", 1000, storeT0)
			mustReserve(t, a, rec)
			got, err := b.reserve(t.Context(), "0xA", "r1", func(prev *record, _ usage) (*record, error) {
				if prev == nil {
					return nil, errors.New("prev is nil, want upl_1")
				}
				return prev, nil
			})
			if err != nil || got.ID != "upl_1" {
				t.Fatalf("reserve again = %v, %v; want upl_1", got, err)
			}
			// Another creator's request id is another upload.
			mustReserve(t, b, testRecord("upl_2", "0xB", "r1", 10, storeT0))
		}},
		{"ReserveRefusalInsertsNothing", func(t *testing.T, a, b *store) {
			refused := errors.New("refused")
			_, err := a.reserve(t.Context(), "0xA", "r1", func(*record, usage) (*record, error) { return nil, refused })
			if !errors.Is(err, refused) {
				t.Fatalf("err = %v, want %v", err, refused)
			}
			if _, err := b.get(t.Context(), "upl_1"); !errors.Is(err, errNotFound) {
				t.Fatalf("get: err = %v, want errNotFound", err)
			}
		}},
		{"Usage", func(t *testing.T, a, b *store) {
			for i, st := range []uploadv1.UploadState{stateCreated, stateUploading, stateValidating, stateCompleted, stateFailed, stateCanceled, stateExpired} {
				rec := testRecord(fmt.Sprintf("upl_%d", i), "0xA", fmt.Sprintf("r%d", i), uint64(1)<<i, storeT0)
				mustReserve(t, a, rec)
				if st != stateCreated {
					if ok, err := a.transition(t.Context(), rec.ID, []uploadv1.UploadState{stateCreated}, st, storeT0, ""); err != nil || !ok {
						t.Fatalf("transition to %v: %v, %v", st, ok, err)
					}
				}
			}
			mustReserve(t, a, testRecord("upl_other", "0xB", "r", 1<<20, storeT0))
			var got usage
			_, err := b.reserve(t.Context(), "0xA", "new", func(_ *record, u usage) (*record, error) {
				got = u
				return nil, errors.New("only looking")
			})
			if err == nil {
				t.Fatal("reserve inserted")
			}
			if want := (usage{Reserved: 1 + 2 + 4 + 8, Active: 3}); got != want {
				t.Fatalf("usage = %+v, want %+v", got, want)
			}
		}},
		{"ConcurrentReservesKeepTheLimit", func(t *testing.T, a, b *store) {
			// Twelve creates of one creator at once, half on each instance,
			// with a limit of 2 unfinished uploads: exactly 2 get in.
			var (
				wg      sync.WaitGroup
				created atomic.Int32
				limited = errors.New("limit")
			)
			for i := range 12 {
				s := a
				if i%2 == 1 {
					s = b
				}
				wg.Go(func() {
					_, err := s.reserve(t.Context(), "0xA", fmt.Sprintf("r%d", i), func(_ *record, u usage) (*record, error) {
						if u.Active >= 2 {
							return nil, limited
						}
						return testRecord(fmt.Sprintf("upl_%02d", i), "0xA", fmt.Sprintf("r%d", i), 10, storeT0), nil
					})
					switch {
					case err == nil:
						created.Add(1)
					case !errors.Is(err, limited):
						t.Errorf("reserve %d: %v", i, err)
					}
				})
			}
			wg.Wait()
			if n := created.Load(); n != 2 {
				t.Fatalf("created %d uploads, want 2", n)
			}
		}},
		{"ConcurrentTransitionHasOneWinner", func(t *testing.T, a, b *store) {
			mustReserve(t, a, testRecord("upl_1", "0xA", "r1", 10, storeT0))
			var (
				wg   sync.WaitGroup
				wins atomic.Int32
			)
			for i := range 8 {
				s := a
				if i%2 == 1 {
					s = b
				}
				wg.Go(func() {
					ok, err := s.transition(t.Context(), "upl_1", []uploadv1.UploadState{stateCreated, stateUploading}, stateCanceled, storeT0, "")
					if err != nil {
						t.Errorf("transition: %v", err)
					}
					if ok {
						wins.Add(1)
					}
				})
			}
			wg.Wait()
			if n := wins.Load(); n != 1 {
				t.Fatalf("%d transitions won, want 1", n)
			}
			if got := mustGet(t, b, "upl_1").State; got != stateCanceled {
				t.Fatalf("state = %v, want CANCELED", got)
			}
		}},
		{"TransitionSetsColumns", func(t *testing.T, a, b *store) {
			mustReserve(t, a, testRecord("upl_1", "0xA", "r1", 10, storeT0))
			ok, err := a.transition(t.Context(), "upl_1", []uploadv1.UploadState{stateCreated}, stateValidating, storeT0.Add(time.Minute), "offset_bytes = ?", int64(10))
			if err != nil || !ok {
				t.Fatalf("transition: %v, %v", ok, err)
			}
			mi := &metadatav1.MediaInfo{FormatName: "mp4", Duration: durationpb.New(3 * time.Second)}
			ok, err = b.transition(t.Context(), "upl_1", []uploadv1.UploadState{stateValidating}, stateFailed, storeT0.Add(2*time.Minute),
				"failure_reason = ?, media_info = ?", "bad media", mustMarshal(t, mi))
			if err != nil || !ok {
				t.Fatalf("transition: %v, %v", ok, err)
			}
			got := mustGet(t, a, "upl_1")
			if got.State != stateFailed || got.Offset != 10 || got.FailureReason != "bad media" || !proto.Equal(got.MediaInfo, mi) ||
				!got.UpdateTime.Equal(storeT0.Add(2*time.Minute)) {
				t.Fatalf("got %+v", got)
			}
		}},
		{"ProgressOnlyWhileAcceptingBytes", func(t *testing.T, a, b *store) {
			mustReserve(t, a, testRecord("upl_1", "0xA", "r1", 100, storeT0))
			later := storeT0.Add(time.Minute)
			if err := b.progress(t.Context(), "upl_1", 40, later, later.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			got := mustGet(t, a, "upl_1")
			if got.State != stateUploading || got.Offset != 40 || !got.ExpireTime.Equal(later.Add(time.Hour)) {
				t.Fatalf("after progress: %+v", got)
			}
			if ok, err := a.transition(t.Context(), "upl_1", []uploadv1.UploadState{stateUploading}, stateCanceled, later, ""); err != nil || !ok {
				t.Fatalf("cancel: %v, %v", ok, err)
			}
			if err := b.progress(t.Context(), "upl_1", 60, later, later.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if got := mustGet(t, a, "upl_1"); got.State != stateCanceled || got.Offset != 40 {
				t.Fatalf("progress after cancel changed %+v", got)
			}
		}},
		{"HashAndMediaInfoOnlyWhileValidating", func(t *testing.T, a, b *store) {
			mustReserve(t, a, testRecord("upl_1", "0xA", "r1", 100, storeT0))
			mi := &metadatav1.MediaInfo{FormatName: "mp4"}
			if err := a.setHash(t.Context(), "upl_1", "early", storeT0); err != nil {
				t.Fatal(err)
			}
			if err := a.setMediaInfo(t.Context(), "upl_1", mi, storeT0); err != nil {
				t.Fatal(err)
			}
			if got := mustGet(t, b, "upl_1"); got.SHA256 != "" || got.MediaInfo != nil {
				t.Fatalf("set outside VALIDATING: %+v", got)
			}
			if ok, err := a.transition(t.Context(), "upl_1", []uploadv1.UploadState{stateCreated}, stateValidating, storeT0, ""); err != nil || !ok {
				t.Fatalf("transition: %v, %v", ok, err)
			}
			if err := a.setHash(t.Context(), "upl_1", "abc", storeT0); err != nil {
				t.Fatal(err)
			}
			if err := a.setMediaInfo(t.Context(), "upl_1", mi, storeT0); err != nil {
				t.Fatal(err)
			}
			if got := mustGet(t, b, "upl_1"); got.SHA256 != "abc" || !proto.Equal(got.MediaInfo, mi) {
				t.Fatalf("got %+v", got)
			}
		}},
		{"FirstVideoIDWins", func(t *testing.T, a, b *store) {
			mustReserve(t, a, testRecord("upl_1", "0xA", "r1", 100, storeT0))
			if got, err := a.setVideoID(t.Context(), "upl_1", "vid_1", storeT0); err != nil || got != "vid_1" {
				t.Fatalf("setVideoID = %q, %v; want vid_1", got, err)
			}
			if got, err := b.setVideoID(t.Context(), "upl_1", "vid_2", storeT0); err != nil || got != "vid_1" {
				t.Fatalf("second setVideoID = %q, %v; want vid_1", got, err)
			}
			if _, err := b.setVideoID(t.Context(), "upl_missing", "vid_3", storeT0); !errors.Is(err, errNotFound) {
				t.Fatalf("setVideoID of a missing upload: %v, want errNotFound", err)
			}
			ids, err := b.idsOfVideo(t.Context(), "vid_1")
			if err != nil || !slices.Equal(ids, []string{"upl_1"}) {
				t.Fatalf("idsOfVideo = %v, %v", ids, err)
			}
		}},
		{"IDsInState", func(t *testing.T, a, b *store) {
			for i := range 4 {
				mustReserve(t, a, testRecord(fmt.Sprintf("upl_%d", i), "0xA", fmt.Sprintf("r%d", i), 10, storeT0.Add(time.Duration(i)*time.Minute)))
			}
			if ok, err := a.transition(t.Context(), "upl_3", []uploadv1.UploadState{stateCreated}, stateValidating, storeT0, ""); err != nil || !ok {
				t.Fatalf("transition: %v, %v", ok, err)
			}
			ids, err := b.idsInState(t.Context(), []uploadv1.UploadState{stateCreated, stateUploading}, time.Time{})
			if want := []string{"upl_0", "upl_1", "upl_2"}; err != nil || !slices.Equal(ids, want) {
				t.Fatalf("idsInState = %v, %v; want %v", ids, err, want)
			}
			// Expiring before T0+1h+90s: those created at T0 and T0+1m.
			ids, err = b.idsInState(t.Context(), []uploadv1.UploadState{stateCreated}, storeT0.Add(time.Hour+90*time.Second))
			if want := []string{"upl_0", "upl_1"}; err != nil || !slices.Equal(ids, want) {
				t.Fatalf("idsInState before = %v, %v; want %v", ids, err, want)
			}
		}},
		{"ListPages", func(t *testing.T, a, b *store) {
			// Five uploads, two of them at the same instant: the id breaks
			// the tie.
			at := []time.Duration{0, time.Minute, time.Minute, 2 * time.Minute, 3 * time.Minute}
			for i, d := range at {
				mustReserve(t, a, testRecord(fmt.Sprintf("upl_%d", i), "0xA", fmt.Sprintf("r%d", i), 10, storeT0.Add(d)))
			}
			mustReserve(t, a, testRecord("upl_x", "0xB", "r", 10, storeT0))
			var got []string
			var after *cursor
			for {
				page, err := b.list(t.Context(), "0xA", uploadv1.UploadState_UPLOAD_STATE_UNSPECIFIED, after, 2)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range page {
					got = append(got, r.ID)
				}
				if len(page) < 2 {
					break
				}
				last := page[len(page)-1]
				after = &cursor{CreateTime: last.CreateTime.UnixNano(), ID: last.ID}
			}
			if want := []string{"upl_4", "upl_3", "upl_2", "upl_1", "upl_0"}; !slices.Equal(got, want) {
				t.Fatalf("pages = %v, want %v", got, want)
			}
			page, err := b.list(t.Context(), "0xA", stateCreated, nil, 10)
			if err != nil || len(page) != 5 {
				t.Fatalf("list CREATED = %d, %v; want 5", len(page), err)
			}
			page, err = b.list(t.Context(), "0xA", stateCompleted, nil, 10)
			if err != nil || len(page) != 0 {
				t.Fatalf("list COMPLETED = %d, %v; want 0", len(page), err)
			}
		}},
	}
	for _, be := range storeBackends(t) {
		t.Run(be.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					a, b := be.open(t)
					tc.run(t, a, b)
				})
			}
		})
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := marshalOrNil(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
