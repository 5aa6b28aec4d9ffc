package streaming_test

import (
	"context"
	"io"
	"testing"

	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/testing/s3test"
)

// onS3 copies every object of src into an S3 store on a real server (a
// fresh one per test) and returns that store, which has no local files.
func onS3(t testing.TB, src blob.Store) blob.Store {
	t.Helper()
	srv := s3test.Start(t)
	srv.SetEnv(t)
	ctx := t.Context()
	dst, err := blob.Open(ctx, srv.URL("media"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := dst.(interface {
		Path(context.Context, string) (string, error)
	}); ok {
		t.Fatalf("%T has local files; the test wants a store without", dst)
	}
	list, err := src.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list {
		r, err := src.Get(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		_, err = dst.Put(ctx, o.Key, r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func readBlob(t testing.TB, store blob.Store, key string) []byte {
	t.Helper()
	r, err := store.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
