package auth

import (
	"context"
	"fmt"
	"slices"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
)

const (
	defaultReverifyLimit = 10000
	maxReverifyLimit     = 100000
)

// ReverifyResult counts what one ReverifyGrants pass did.
type ReverifyResult struct {
	Checked, Revoked, Failed int
}

// ReverifyGrants is internal: the worker's ownership.reverify schedule
// calls it.
func (h *handler) ReverifyGrants(ctx context.Context, req *connect.Request[authv1.ReverifyGrantsRequest]) (*connect.Response[authv1.ReverifyGrantsResponse], error) {
	limit := int(req.Msg.GetLimit())
	switch {
	case limit < 0 || limit > maxReverifyLimit:
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("limit must be 0 to %d", maxReverifyLimit))
	case limit == 0:
		limit = defaultReverifyLimit
	}
	r := h.svc.ReverifyGrants(ctx, limit)
	return connect.NewResponse(&authv1.ReverifyGrantsResponse{
		CheckedCount: int32(r.Checked), RevokedCount: int32(r.Revoked), FailedCount: int32(r.Failed),
	}), nil
}

// ReverifyGrants re-checks up to limit live grants, least recently checked
// first, against the chain (bypassing the decision cache). A grant whose
// viewer no longer satisfies the policy is dropped and ownership.changed
// (allowed=false) is published, as OnTransfer does; one whose check fails
// is kept for the next pass. The watcher only sees ERC-721/1155 Transfer
// logs from its start, so this periodic pass is what catches the rest.
func (s *Service) ReverifyGrants(ctx context.Context, limit int) ReverifyResult {
	var r ReverifyResult
	for _, g := range s.grants.oldestChecked(s.cfg.Now(), limit) {
		if ctx.Err() != nil {
			break
		}
		dec, err := s.access.Check(ctx, g.policy, g.address, true)
		if err != nil {
			r.Failed++
			s.logger.WarnContext(ctx, "reverify grant failed; retried on the next pass",
				"video_id", g.videoID, "address", g.address.Hex(), "err", err)
			continue
		}
		r.Checked++
		if dec.GetAllowed() {
			s.grants.markChecked(g.grantKey, s.cfg.Now())
			continue
		}
		r.Revoked++
		s.grants.drop(g.videoID, g.address)
		block := decisionBlock(dec)
		s.logger.InfoContext(ctx, "playback grant revoked by re-verification",
			"video_id", g.videoID, "address", g.address.Hex(), "block", block)
		if s.publisher == nil {
			continue
		}
		ev := &eventsv1.OwnershipChanged{
			EventId:     fmt.Sprintf("ownership.changed:%s:%s:%d", g.videoID, g.address.Hex(), block),
			OccurTime:   timestamppb.New(s.cfg.Now()),
			VideoId:     g.videoID,
			Address:     g.address.Hex(),
			Allowed:     false,
			BlockNumber: block,
		}
		if err := s.publisher.Publish(ctx, ev); err != nil {
			s.logger.ErrorContext(ctx, "publish ownership.changed failed", "event_id", ev.GetEventId(), "err", err)
		}
	}
	return r
}

// decisionBlock is the newest block the decision read.
func decisionBlock(d *authv1.CheckAccessResponse) uint64 {
	var b uint64
	for _, rr := range d.GetRuleResults() {
		b = max(b, rr.GetBlockNumber())
	}
	return b
}

type liveGrant struct {
	grantKey
	policy  *authv1.AccessPolicy
	checked time.Time
}

// oldestChecked returns up to limit unexpired grants, least recently
// checked first, dropping the expired ones.
func (g *grants) oldestChecked(now time.Time, limit int) []liveGrant {
	g.mu.Lock()
	out := make([]liveGrant, 0, len(g.m))
	for k, v := range g.m {
		if !v.expires.After(now) {
			delete(g.m, k)
			continue
		}
		out = append(out, liveGrant{grantKey: k, policy: v.policy, checked: v.checked})
	}
	g.mu.Unlock()
	slices.SortFunc(out, func(a, b liveGrant) int { return a.checked.Compare(b.checked) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

func (g *grants) markChecked(k grantKey, now time.Time) {
	g.mu.Lock()
	if v, ok := g.m[k]; ok {
		v.checked = now
	}
	g.mu.Unlock()
}
