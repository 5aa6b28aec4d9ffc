package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/internal/video"
	"github.com/streamgate/streamgate/internal/weborigin"
	"github.com/streamgate/streamgate/web"
)

// VideoSource reads a video from metadata; video.Source satisfies it.
// Errors for an unknown video wrap video.ErrNotFound.
type VideoSource interface {
	GetVideo(ctx context.Context, id string) (*metadatav1.Video, error)
}

// WithEmbedPolicy lets the embed page (/embed/<id>) be framed by the pages
// the video's allowed origins name (any page when the list is empty),
// read from videos. Without it the embed page refuses every frame.
func WithEmbedPolicy(videos VideoSource) Option {
	return func(s *Service) {
		s.embed = &embedPolicy{videos: videos, now: time.Now, m: map[string]embedEntry{}}
	}
}

// embedPolicy answers frame-ancestors per video, remembering each answer
// for embedPolicyTTL: every page load of an embed would otherwise be a
// metadata call, and a page load needs no session to trigger one.
type embedPolicy struct {
	videos VideoSource
	now    func() time.Time
	mu     sync.Mutex
	m      map[string]embedEntry
}

type embedEntry struct {
	ancestors string
	until     time.Time
}

// embedPolicyTTL bounds how long a changed list takes to reach the embed
// page's frame-ancestors.
const embedPolicyTTL = 10 * time.Second

// maxEmbedEntries bounds the memory of embedPolicy.
const maxEmbedEntries = 10_000

// frameAncestors returns the CSP frame-ancestors source list for the video.
// An unknown video (or a malformed id) may be framed by anyone: the page
// only says it is not found.
func (p *embedPolicy) frameAncestors(ctx context.Context, id string) (string, error) {
	if video.CheckID(id) != nil {
		return "*", nil
	}
	now := p.now()
	p.mu.Lock()
	e, ok := p.m[id]
	p.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.ancestors, nil
	}
	v, err := p.videos.GetVideo(ctx, id)
	var anc string
	switch {
	case errors.Is(err, video.ErrNotFound):
		anc = "*"
	case err != nil:
		return "", err
	default:
		anc = weborigin.FrameAncestors(v.GetAllowedOrigins())
	}
	p.mu.Lock()
	if len(p.m) >= maxEmbedEntries {
		clear(p.m)
	}
	p.m[id] = embedEntry{ancestors: anc, until: now.Add(embedPolicyTTL)}
	p.mu.Unlock()
	return anc, nil
}

// serveEmbed answers the embed page with the video's frame-ancestors.
func (s *Service) serveEmbed(w http.ResponseWriter, r *http.Request) {
	if s.embed != nil {
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, web.EmbedPrefix), "/")
		anc, err := s.embed.frameAncestors(r.Context(), id)
		if err != nil {
			s.logger.WarnContext(r.Context(), "embed page: cannot read the video's allowed origins", "video_id", id, "err", err)
			w.Header().Set("Retry-After", "2")
			http.Error(w, "the player is temporarily unavailable; retry", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Security-Policy", "frame-ancestors "+anc)
	}
	s.webApp.ServeHTTP(w, r)
}
