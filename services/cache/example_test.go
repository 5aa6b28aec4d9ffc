package cache_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/streamgate/streamgate/services/cache"
	"github.com/streamgate/streamgate/services/cache/memory"
)

// The service over the in-process backend, used through its domain
// methods. Over the network the same calls go through the generated
// cachev1connect client.
func Example() {
	backend, err := memory.New(memory.Config{MaxEntries: 10_000})
	if err != nil {
		panic(err)
	}
	svc, err := cache.New(cache.Config{MaxTTL: time.Hour}, backend, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		panic(err)
	}
	defer svc.Close()
	ctx := context.Background()

	if _, err := svc.Set(ctx, "docs.example", "greeting", []byte("hello"), cache.SetOptions{ContentType: "text/plain", TTL: 48 * time.Hour}); err != nil {
		panic(err)
	}
	e, ok, err := svc.Get(ctx, "docs.example", "greeting")
	if err != nil {
		panic(err)
	}
	fmt.Println(ok, string(e.Value), e.ContentType, time.Until(e.ExpireTime) <= time.Hour)
	// Output: true hello text/plain true
}
