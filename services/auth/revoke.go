package auth

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
)

// Publisher publishes events; *events.Bus implements it.
type Publisher interface {
	Publish(ctx context.Context, msg proto.Message) error
}

// Option configures optional dependencies of New.
type Option func(*Service)

// WithPublisher makes OnTransfer publish ownership.changed, and session
// revocations (SignOut, refresh-token reuse) session.revoked, through p.
// Without it, transfers still re-check grants and sessions are still
// revoked, but nothing is announced.
func WithPublisher(p Publisher) Option {
	return func(s *Service) { s.publisher = p }
}

// PolicyFollower makes the transfer watcher follow the contracts a policy
// names; *access.Evaluator implements it.
type PolicyFollower interface {
	Follow(policy *authv1.AccessPolicy) error
}

// WithPolicyFollower makes Run hand f the policies of the live grants in
// the database when it starts (and after each sweep), so that the
// transfer watcher follows the contracts of grants issued before this
// instance started, or by another instance, and OnTransfer revokes them.
// Without it the watcher only follows the contracts this instance has
// checked since it started.
func WithPolicyFollower(f PolicyFollower) Option {
	return func(s *Service) { s.follower = f }
}

// followGrants hands the policies of the live grants to the follower. A
// policy that does not decode or is invalid is skipped (logged).
func (s *Service) followGrants(ctx context.Context) error {
	if s.follower == nil {
		return nil
	}
	policies, err := s.store.grantPolicies(ctx, s.cfg.Now())
	if err != nil {
		return err
	}
	for _, b := range policies {
		p := new(authv1.AccessPolicy)
		if err := proto.Unmarshal(b, p); err != nil {
			continue // decodeGrant deletes such grants when it meets them
		}
		if err := s.follower.Follow(p); err != nil {
			s.logger.WarnContext(ctx, "stored playback grant has a policy the watcher cannot follow", "err", err)
		}
	}
	return nil
}

// Playback grants: every playback token issued under a non-public policy
// (any token standard) is recorded in the store's playback_grants, keyed
// by (video, address), with the policy it was checked against and the
// token's expiry. Every instance sharing the database sees every grant,
// so OnTransfer and ReverifyGrants cover the grants of all instances, and
// grants outlive a restart. A grant's row goes when it is revoked or,
// after its expiry, with the sweep.

// grant is a stored grant, decoded.
type grant struct {
	videoID string
	address common.Address
	policy  *authv1.AccessPolicy
}

// recordGrant records (or extends) the grant of a playback token.
func (s *Service) recordGrant(ctx context.Context, videoID string, addr common.Address, policy *authv1.AccessPolicy, expires time.Time) error {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(policy)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	return s.store.putGrant(ctx, storedGrant{VideoID: videoID, Address: addr.Hex(), Policy: b, Expires: expires, Issued: now, Checked: now})
}

// decodeGrant decodes a stored grant. A row that does not decode (written
// by a newer, incompatible version) cannot be re-checked: it is deleted,
// and its token expires within the playback TTL.
func (s *Service) decodeGrant(ctx context.Context, sg storedGrant) (grant, bool) {
	p := new(authv1.AccessPolicy)
	if err := proto.Unmarshal(sg.Policy, p); err != nil {
		s.logger.ErrorContext(ctx, "stored playback grant has an unreadable policy; deleted",
			"video_id", sg.VideoID, "address", sg.Address, "err", err)
		if err := s.store.deleteGrant(ctx, sg.VideoID, sg.Address, sg.Issued); err != nil {
			s.logger.WarnContext(ctx, "delete playback grant failed", "video_id", sg.VideoID, "address", sg.Address, "err", err)
		}
		return grant{}, false
	}
	return grant{videoID: sg.VideoID, address: common.HexToAddress(sg.Address), policy: p}, true
}

// usesContract reports whether a rule of p names the contract on the
// chain.
func usesContract(p *authv1.AccessPolicy, chainID uint64, contract common.Address) bool {
	for _, r := range p.GetRules() {
		if r.GetChainId() == chainID && common.HexToAddress(strings.TrimSpace(r.GetContractAddress())) == contract {
			return true
		}
	}
	return false
}

// revokeGrant announces that g's viewer no longer satisfies its policy
// (ownership.changed, allowed=false, with eventID) and then deletes the
// grant, unless a token was issued for it after checkedAt. When the
// announcement fails the grant is kept, so that the next ReverifyGrants
// pass re-checks it and announces again. Every step is idempotent: two
// instances revoking the same grant publish the same event id (JetStream
// drops the second) or, from re-verifications reading different blocks,
// two events saying the same thing; the second delete deletes nothing.
func (s *Service) revokeGrant(ctx context.Context, g grant, block uint64, checkedAt time.Time) {
	if s.publisher != nil {
		ev := &eventsv1.OwnershipChanged{
			EventId:     fmt.Sprintf("ownership.changed:%s:%s:%d", g.videoID, g.address.Hex(), block),
			OccurTime:   timestamppb.New(s.cfg.Now()),
			VideoId:     g.videoID,
			Address:     g.address.Hex(),
			Allowed:     false,
			BlockNumber: block,
		}
		if err := s.publisher.Publish(ctx, ev); err != nil {
			s.logger.ErrorContext(ctx, "publish ownership.changed failed; the grant is kept for the next re-verification",
				"event_id", ev.GetEventId(), "err", err)
			return
		}
	}
	if err := s.store.deleteGrant(ctx, g.videoID, g.address.Hex(), checkedAt); err != nil {
		s.logger.WarnContext(ctx, "delete revoked playback grant failed; the next re-verification revokes it again",
			"video_id", g.videoID, "address", g.address.Hex(), "err", err)
	}
}

// OnTransfer re-checks, bypassing the cache, every live playback grant
// (issued by any instance) whose viewer is from and whose policy uses the
// contract, and revokes (revokeGrant) each one whose viewer no longer
// satisfies the policy. A viewer still satisfying it (another token)
// changed nothing and is not announced. A re-check that fails (chain
// unreachable), or a store that cannot be read, is logged: the token still
// expires within the playback TTL, its refresh re-checks the chain,
// failing closed, and ReverifyGrants re-checks the grant within a minute.
//
// Its signature is access.TransferFunc: hand it to Watcher.OnTransfer.
func (s *Service) OnTransfer(ctx context.Context, chainID uint64, contract, from, to common.Address, block uint64) {
	if from == (common.Address{}) {
		return // a mint takes nothing from anyone
	}
	rows, err := s.store.grantsOf(ctx, from.Hex(), s.cfg.Now())
	if err != nil {
		s.logger.ErrorContext(ctx, "read playback grants after transfer failed; re-verification covers them",
			"address", from.Hex(), "chain_id", chainID, "block", block, "err", err)
		return
	}
	for _, sg := range rows {
		g, ok := s.decodeGrant(ctx, sg)
		if !ok || !usesContract(g.policy, chainID, contract) {
			continue
		}
		checkedAt := s.cfg.Now()
		dec, err := s.access.Check(ctx, g.policy, from, true)
		if err != nil {
			s.logger.WarnContext(ctx, "re-check after transfer failed; the next re-verification retries",
				"video_id", g.videoID, "address", from.Hex(), "chain_id", chainID, "block", block, "err", err)
			continue
		}
		if dec.GetAllowed() {
			continue
		}
		s.logger.InfoContext(ctx, "playback grant revoked by transfer",
			"video_id", g.videoID, "address", from.Hex(), "to", to.Hex(), "chain_id", chainID, "block", block)
		s.revokeGrant(ctx, g, block, checkedAt)
	}
}
