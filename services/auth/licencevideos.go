package auth

import (
	"context"
	"sync"
	"time"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
)

// maxLicenceVideos bounds the videos the key server remembers.
const maxLicenceVideos = 10_000

// licenceVideos remembers, for Config.LicenceVideoTTL, the videos the key
// server read from metadata: a player asks for keys at every key session
// and renewal, and the read would be most of a cache-hit licence's cost.
// Only the video is reused; the holder decision is the access checker's
// on every request. A policy or status change reaches the key server
// within the TTL, as it reaches streaming's playback checks.
type licenceVideos struct {
	now func() time.Time
	ttl time.Duration

	mu sync.Mutex
	m  map[string]licenceVideo
}

type licenceVideo struct {
	v     *metadatav1.Video
	until time.Time
}

func newLicenceVideos(now func() time.Time, ttl time.Duration) *licenceVideos {
	return &licenceVideos{now: now, ttl: ttl, m: map[string]licenceVideo{}}
}

// video returns the video as s.video does, reusing a read younger than
// the TTL. Refusals (not found, deleted) and failures are not kept.
func (c *licenceVideos) video(ctx context.Context, s *Service, id string) (*metadatav1.Video, error) {
	if c.ttl < 0 {
		return s.video(ctx, id)
	}
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.v, nil
	}
	v, err := s.video(ctx, id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= maxLicenceVideos {
		clear(c.m) // each video then costs one read again
	}
	c.m[id] = licenceVideo{v: v, until: now.Add(c.ttl)}
	c.mu.Unlock()
	return v, nil
}

// forget drops a video (its keys were deleted).
func (c *licenceVideos) forget(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}
