package streaming

import (
	"context"
	"strings"
	"time"

	"connectrpc.com/connect"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
)

// maxCachedLicences bounds the answers the key server remembers.
const maxCachedLicences = 50_000

// licenceKey is what auth's answer depends on: the video, the wallet, and
// whether the token is a preview's (a preview token's answer must not
// serve the full token a mint brings next).
type licenceKey struct {
	video, address string
	preview        uint32
}

type cachedLicence struct {
	res   *authv1.ReleaseContentKeysResponse
	until time.Time
}

// release asks auth which keys of the video the wallet gets, reusing an
// answer younger than LicenceCacheTTL. Only releases are kept: a refusal
// or a failure is asked again next time, so a wallet that gains the pass
// is not held back, and one that loses it loses its tokens first
// (ownership.changed revokes them here; forgetLicences drops the answer).
func (s *Service) release(ctx context.Context, g *grant, address string) (*authv1.ReleaseContentKeysResponse, error) {
	k := licenceKey{video: g.id, address: strings.ToLower(address)}
	if g.claims != nil {
		k.preview = g.claims.PreviewSeconds
	}
	now := s.cfg.Now()
	if s.cfg.LicenceCacheTTL > 0 {
		s.lmu.Lock()
		e, ok := s.licences[k]
		s.lmu.Unlock()
		if ok && now.Before(e.until) {
			return e.res, nil
		}
	}
	res, err := s.keys.ReleaseContentKeys(ctx, connect.NewRequest(&authv1.ReleaseContentKeysRequest{VideoId: g.id, Address: address}))
	if err != nil {
		return nil, err
	}
	if s.cfg.LicenceCacheTTL > 0 {
		s.lmu.Lock()
		if len(s.licences) >= maxCachedLicences {
			clear(s.licences) // each wallet then costs one call to auth again
		}
		s.licences[k] = cachedLicence{res: res.Msg, until: now.Add(s.cfg.LicenceCacheTTL)}
		s.lmu.Unlock()
	}
	return res.Msg, nil
}

// forgetLicences drops the answers for a wallet's keys of a video (every
// video when videoID is empty).
func (s *Service) forgetLicences(videoID, address string) {
	address = strings.ToLower(address)
	s.lmu.Lock()
	defer s.lmu.Unlock()
	for k := range s.licences {
		if k.address == address && (videoID == "" || k.video == videoID) {
			delete(s.licences, k)
		}
	}
}
