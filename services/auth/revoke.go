package auth

import (
	"context"
	"fmt"
	"strings"
	"sync"
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

// DefaultMaxGrants bounds the playback grants kept for revocation.
const DefaultMaxGrants = 100_000

// contractKey is a token contract on a chain.
type contractKey struct {
	chainID  uint64
	contract common.Address
}

type grantKey struct {
	videoID string
	address common.Address
}

// grant is a playback token issued under a non-public policy: what a
// transfer out of the viewer's wallet must re-check.
type grant struct {
	policy    *authv1.AccessPolicy
	contracts []contractKey
	expires   time.Time
	checked   time.Time // last chain check: issuance or ReverifyGrants
}

// grants records the playback grants issued, in memory, bounded. A grant
// lives no longer than its playback token (10 minutes by default) and the
// watcher follows transfers only from the head current when it starts, so
// grants from before a restart could not be revoked from the log anyway;
// a refresh always re-checks the chain. Memory is therefore enough, and the
// bound keeps a flood of issuances from growing it without limit.
type grants struct {
	mu  sync.Mutex
	max int
	m   map[grantKey]*grant
}

func newGrants(maxGrants int) *grants {
	return &grants{max: maxGrants, m: make(map[grantKey]*grant)}
}

// record stores (or extends) the grant of videoID to addr.
func (g *grants) record(now time.Time, videoID string, addr common.Address, policy *authv1.AccessPolicy, expires time.Time) {
	var cs []contractKey
	for _, r := range policy.GetRules() {
		if r.GetStandard() == authv1.TokenStandard_TOKEN_STANDARD_ERC20 {
			continue // the watcher follows ERC-721 and ERC-1155 transfers only
		}
		c := contractKey{r.GetChainId(), common.HexToAddress(strings.TrimSpace(r.GetContractAddress()))}
		if !containsContract(cs, c) {
			cs = append(cs, c)
		}
	}
	if len(cs) == 0 {
		return
	}
	k := grantKey{videoID, addr}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.m[k]; !ok && len(g.m) >= g.max {
		g.evict(now)
	}
	g.m[k] = &grant{policy: policy, contracts: cs, expires: expires, checked: now}
}

// evict drops expired grants, then, if still full, the one expiring first.
// Called with mu held.
func (g *grants) evict(now time.Time) {
	var first grantKey
	var firstExp time.Time
	for k, v := range g.m {
		if !v.expires.After(now) {
			delete(g.m, k)
			continue
		}
		if firstExp.IsZero() || v.expires.Before(firstExp) {
			first, firstExp = k, v.expires
		}
	}
	if len(g.m) >= g.max && !firstExp.IsZero() {
		delete(g.m, first)
	}
}

type heldGrant struct {
	videoID string
	policy  *authv1.AccessPolicy
}

// held returns the live grants of addr whose policy uses the contract.
func (g *grants) held(now time.Time, addr common.Address, c contractKey) []heldGrant {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []heldGrant
	for k, v := range g.m {
		if k.address != addr {
			continue
		}
		if !v.expires.After(now) {
			delete(g.m, k)
			continue
		}
		if containsContract(v.contracts, c) {
			out = append(out, heldGrant{k.videoID, v.policy})
		}
	}
	return out
}

func (g *grants) drop(videoID string, addr common.Address) {
	g.mu.Lock()
	delete(g.m, grantKey{videoID, addr})
	g.mu.Unlock()
}

func (g *grants) len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.m)
}

func containsContract(cs []contractKey, c contractKey) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

// OnTransfer re-checks, bypassing the cache, every live playback grant whose
// viewer is from and whose policy uses the contract, and publishes
// ownership.changed with allowed=false for each viewer that no longer
// satisfies the policy (its grant is dropped). A viewer still satisfying it
// (another token) changed nothing and is not announced. A re-check that
// fails (chain unreachable) is logged: the token still expires within the
// playback TTL and its refresh re-checks the chain, failing closed.
//
// Its signature is access.TransferFunc: hand it to Watcher.OnTransfer.
func (s *Service) OnTransfer(ctx context.Context, chainID uint64, contract, from, to common.Address, block uint64) {
	if from == (common.Address{}) {
		return // a mint takes nothing from anyone
	}
	for _, h := range s.grants.held(s.cfg.Now(), from, contractKey{chainID, contract}) {
		dec, err := s.access.Check(ctx, h.policy, from, true)
		if err != nil {
			s.logger.WarnContext(ctx, "re-check after transfer failed; the grant expires with its token",
				"video_id", h.videoID, "address", from.Hex(), "chain_id", chainID, "block", block, "err", err)
			continue
		}
		if dec.GetAllowed() {
			continue
		}
		s.grants.drop(h.videoID, from)
		s.logger.InfoContext(ctx, "playback grant revoked by transfer",
			"video_id", h.videoID, "address", from.Hex(), "to", to.Hex(), "chain_id", chainID, "block", block)
		if s.publisher == nil {
			continue
		}
		ev := &eventsv1.OwnershipChanged{
			EventId:     fmt.Sprintf("ownership.changed:%s:%s:%d", h.videoID, from.Hex(), block),
			OccurTime:   timestamppb.New(s.cfg.Now()),
			VideoId:     h.videoID,
			Address:     from.Hex(),
			Allowed:     false,
			BlockNumber: block,
		}
		if err := s.publisher.Publish(ctx, ev); err != nil {
			s.logger.ErrorContext(ctx, "publish ownership.changed failed", "event_id", ev.GetEventId(), "err", err)
		}
	}
}
