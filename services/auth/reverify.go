package auth

import (
	"context"
	"fmt"

	"connectrpc.com/connect"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
)

const (
	defaultReverifyLimit = 10000
	maxReverifyLimit     = 100000
	// reverifyPage is how many grants one store read returns.
	reverifyPage = 500
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
	r, err := h.svc.ReverifyGrants(ctx, limit)
	if err != nil {
		return nil, unavailable(err, "cannot read the playback grants now; try again")
	}
	return connect.NewResponse(&authv1.ReverifyGrantsResponse{
		CheckedCount: int32(r.Checked), RevokedCount: int32(r.Revoked), FailedCount: int32(r.Failed),
	}), nil
}

// ReverifyGrants re-checks up to limit (default 10,000 when not positive)
// live grants, of every instance sharing the store, least recently checked
// first, against the chain (bypassing the decision cache). A grant whose viewer no longer satisfies
// the policy is revoked as OnTransfer does (revokeGrant); one whose check
// succeeds is marked checked, which sends it to the back of the queue; one
// whose check fails is left as it was, at the front, for the next pass.
// The watcher only sees ERC-721/1155 Transfer logs from its start, so this
// periodic pass is what catches the rest, ERC-20 balances included.
//
// The grants are read in pages of reverifyPage along the grants_by_checked
// index from a cursor, so a pass costs at most limit chain checks and
// limit/reverifyPage+1 index range reads, whatever the number of grants.
// A pass only visits grants checked at or before its start: grants it
// marks move behind it. With G live grants and one pass a minute, each
// grant is re-checked about every G/limit minutes; beyond that, raise the
// limit (chain calls are then the cost) or run passes more often. It
// returns an error only when the store cannot be read, with what was done
// until then.
func (s *Service) ReverifyGrants(ctx context.Context, limit int) (ReverifyResult, error) {
	if limit <= 0 {
		limit = defaultReverifyLimit
	}
	var r ReverifyResult
	start := s.cfg.Now()
	cur := grantsStart
	// A grant marked at start's millisecond (a coarse or test clock) sorts
	// after the cursor again: seen skips it.
	seen := make(map[[2]string]bool)
	for r.Checked+r.Failed < limit && ctx.Err() == nil {
		n := min(reverifyPage, limit-r.Checked-r.Failed)
		page, next, err := s.store.grantsByChecked(ctx, cur, start, s.cfg.Now(), n)
		if err != nil {
			return r, err
		}
		for _, sg := range page {
			if ctx.Err() != nil || r.Checked+r.Failed >= limit {
				break
			}
			k := [2]string{sg.VideoID, sg.Address}
			if seen[k] {
				continue
			}
			seen[k] = true
			s.reverify(ctx, sg, &r)
		}
		if len(page) < n {
			break // the walk reached the end
		}
		cur = next
	}
	return r, nil
}

// reverify re-checks one grant and counts the outcome in r.
func (s *Service) reverify(ctx context.Context, sg storedGrant, r *ReverifyResult) {
	g, ok := s.decodeGrant(ctx, sg)
	if !ok {
		r.Failed++
		return
	}
	checkedAt := s.cfg.Now()
	dec, err := s.access.Check(ctx, g.policy, g.address, true)
	if err != nil {
		r.Failed++
		s.logger.WarnContext(ctx, "reverify grant failed; retried on the next pass",
			"video_id", g.videoID, "address", sg.Address, "err", err)
		return
	}
	r.Checked++
	if dec.GetAllowed() {
		if err := s.store.markGrantChecked(ctx, g.videoID, sg.Address, s.cfg.Now()); err != nil {
			s.logger.WarnContext(ctx, "mark grant checked failed", "video_id", g.videoID, "address", sg.Address, "err", err)
		}
		return
	}
	r.Revoked++
	block := decisionBlock(dec)
	s.logger.InfoContext(ctx, "playback grant revoked by re-verification",
		"video_id", g.videoID, "address", sg.Address, "block", block)
	s.revokeGrant(ctx, g, block, checkedAt)
}

// decisionBlock is the newest block the decision read.
func decisionBlock(d *authv1.CheckAccessResponse) uint64 {
	var b uint64
	for _, rr := range d.GetRuleResults() {
		b = max(b, rr.GetBlockNumber())
	}
	return b
}
