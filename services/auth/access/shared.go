package access

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/ethereum/go-ethereum/common"
	"golang.org/x/sync/singleflight"
	"google.golang.org/protobuf/types/known/durationpb"

	cachev1 "github.com/streamgate/streamgate/gen/go/streamgate/cache/v1"
)

// CacheClient is what SharedCache needs of the cache service: the
// generated cachev1connect.CacheServiceClient (over the mesh) satisfies it.
type CacheClient interface {
	GetMany(context.Context, *connect.Request[cachev1.GetManyRequest]) (*connect.Response[cachev1.GetManyResponse], error)
	Set(context.Context, *connect.Request[cachev1.SetRequest]) (*connect.Response[cachev1.SetResponse], error)
	Invalidate(context.Context, *connect.Request[cachev1.InvalidateRequest]) (*connect.Response[cachev1.InvalidateResponse], error)
}

// SharedConfig tunes a SharedCache. Zero values get the defaults.
type SharedConfig struct {
	// Namespace in the cache service. Default "auth.access".
	Namespace string
	// LocalTTL bounds how long an observation is also kept in this process,
	// so that a hit costs no network call. Another instance's invalidation
	// reaches this copy only through this instance's own watcher or when
	// the copy expires: keep it to seconds. Default 2s; negative: no local
	// copy (every lookup asks the cache service).
	LocalTTL time.Duration
	// FloorTTL is how long an invalidation floor is kept. It must outlast
	// any observation read before the transfer: the longest TTL an entry
	// is stored with plus the longest chain read. Default 2m.
	FloorTTL time.Duration
	// Timeout bounds each call to the cache service; a slow cache is a
	// miss. Default 250ms.
	Timeout time.Duration
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
}

func (c *SharedConfig) validate() error {
	if c.Namespace == "" {
		c.Namespace = "auth.access"
	}
	if c.LocalTTL == 0 {
		c.LocalTTL = 2 * time.Second
	}
	if c.FloorTTL == 0 {
		c.FloorTTL = 2 * time.Minute
	}
	if c.Timeout == 0 {
		c.Timeout = 250 * time.Millisecond
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.FloorTTL < time.Second || c.Timeout < 0 {
		return fmt.Errorf("access: shared cache: negative Timeout or FloorTTL under 1s (%v, %v)", c.Timeout, c.FloorTTL)
	}
	return nil
}

// SharedCache is the Cache several auth instances share, kept in the cache
// service (whose Redis backend is what a multi-instance deployment uses),
// with a short copy in each process.
//
// An invalidation at a block writes a floor for the holder: the block of the
// transfer. A lookup reads the entry and its holder's floor in one GetMany
// and refuses an entry read before the floor, so a read that raced the
// transfer on any instance, stored before or after the floor, is never
// served. Entries are not deleted on a transfer: they are shadowed until
// they expire, which keeps a transfer to one write whatever the number of
// token ids cached for the holder.
//
// The cache is never the source of truth: a failing or slow cache service
// is a miss (the evaluator reads the chain), and a write that fails only
// costs a later chain read.
type SharedCache struct {
	cfg    SharedConfig
	client CacheClient
	local  *MemoryCache
	logger *slog.Logger
	group  singleflight.Group
	// lastWarn rate-limits the log of cache failures (Unix nanoseconds).
	lastWarn atomic.Int64
}

// NewSharedCache returns a SharedCache over client.
func NewSharedCache(cfg SharedConfig, client CacheClient, logger *slog.Logger) (*SharedCache, error) {
	if client == nil {
		return nil, errors.New("access: shared cache: nil client")
	}
	if logger == nil {
		return nil, errors.New("access: shared cache: nil logger")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &SharedCache{cfg: cfg, client: client, local: NewMemoryCache(cfg.Now, cfg.FloorTTL), logger: logger}, nil
}

// Key layout: entries "o:<chain>:<contract>:<holder>:<standard>:<token id>",
// floors "f:<chain>:<contract>:<holder>"; addresses lower-case hex.
func holderPart(chainID uint64, contract, holder common.Address) string {
	return strconv.FormatUint(chainID, 10) + ":" + strings.ToLower(contract.Hex()) + ":" + strings.ToLower(holder.Hex())
}

func entryKey(k Key) string {
	return "o:" + holderPart(k.ChainID, k.Contract, k.Holder) + ":" + strconv.Itoa(int(k.Standard)) + ":" + k.TokenID
}

func floorKey(chainID uint64, contract, holder common.Address) string {
	return "f:" + holderPart(chainID, contract, holder)
}

// Get implements Cache.
func (c *SharedCache) Get(ctx context.Context, k Key) (Observation, bool) {
	if o, ok := c.local.Get(ctx, k); ok {
		return o, true
	}
	ek := entryKey(k)
	// Identical concurrent misses share one round trip; it must not end
	// with the first caller.
	ch := c.group.DoChan(ek, func() (any, error) {
		return c.lookup(context.WithoutCancel(ctx), k, ek)
	})
	select {
	case <-ctx.Done():
		return Observation{}, false
	case res := <-ch:
		o, ok := res.Val.(Observation)
		return o, ok && res.Err == nil
	}
}

// errMiss marks a lookup that found nothing servable.
var errMiss = errors.New("miss")

func (c *SharedCache) lookup(ctx context.Context, k Key, ek string) (any, error) {
	fk := floorKey(k.ChainID, k.Contract, k.Holder)
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	res, err := c.client.GetMany(ctx, connect.NewRequest(&cachev1.GetManyRequest{Namespace: c.cfg.Namespace, Keys: []string{ek, fk}}))
	if err != nil {
		c.warn(ctx, "access cache read failed; reading the chain", err)
		return nil, errMiss
	}
	var (
		o      Observation
		ttl    time.Duration
		found  bool
		floorB uint64
	)
	for _, e := range res.Msg.GetEntries() {
		switch e.GetKey() {
		case ek:
			if o, err = decodeObservation(e.GetValue()); err != nil {
				c.warn(ctx, "access cache entry undecodable; reading the chain", err)
				return nil, errMiss
			}
			ttl, found = e.GetTtl().AsDuration(), true
		case fk:
			if floorB, err = decodeFloor(e.GetValue()); err != nil {
				// A floor that cannot be read may hide a transfer: the
				// entry is not trusted.
				c.warn(ctx, "access cache floor undecodable; reading the chain", err)
				return nil, errMiss
			}
		}
	}
	if !found || o.BlockNumber < floorB {
		return nil, errMiss
	}
	c.keepLocal(ctx, k, o, ttl)
	return o, nil
}

func (c *SharedCache) keepLocal(ctx context.Context, k Key, o Observation, ttl time.Duration) {
	if c.cfg.LocalTTL > 0 {
		c.local.Put(ctx, k, o, min(ttl, c.cfg.LocalTTL))
	}
}

// Put implements Cache. The holder's floor is checked on every read, so the
// write needs no check of its own.
func (c *SharedCache) Put(ctx context.Context, k Key, o Observation, ttl time.Duration) {
	c.keepLocal(ctx, k, o, ttl)
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	_, err := c.client.Set(ctx, connect.NewRequest(&cachev1.SetRequest{
		Namespace: c.cfg.Namespace, Key: entryKey(k), Value: encodeObservation(o),
		ContentType: observationContentType, Ttl: durationpb.New(max(ttl, time.Second)),
	}))
	if err != nil {
		c.warn(ctx, "access cache write failed", err)
	}
}

// Invalidate implements Cache. With fromBlock it raises each holder's floor
// (keeping the highest one seen); without, it deletes the holders' entries.
func (c *SharedCache) Invalidate(ctx context.Context, chainID uint64, contract common.Address, fromBlock uint64, holders ...common.Address) {
	c.local.Invalidate(ctx, chainID, contract, fromBlock, holders...)
	for _, h := range holders {
		var err error
		if fromBlock > 0 {
			err = c.raiseFloor(ctx, floorKey(chainID, contract, h), fromBlock)
		} else {
			err = c.deleteEntries(ctx, "o:"+holderPart(chainID, contract, h)+":")
		}
		if err != nil {
			// Other instances may serve the holder's old answer until it
			// expires: worth an error, not a retry loop in the watcher.
			c.logger.ErrorContext(ctx, "access cache invalidation failed; other auth instances may serve the old decision until it expires",
				"chain_id", chainID, "contract", contract.Hex(), "holder", h.Hex(), "block", fromBlock, "err", err)
		}
	}
}

// raiseFloor stores block as the holder's floor unless a higher one is
// there. Two instances raising the same floor at once can still leave the
// lower one (the cache has no compare-and-set); each instance's watcher
// sees every transfer of the contracts it follows and writes again, and a
// shadowed entry lives at most its TTL.
func (c *SharedCache) raiseFloor(ctx context.Context, key string, block uint64) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	res, err := c.client.GetMany(ctx, connect.NewRequest(&cachev1.GetManyRequest{Namespace: c.cfg.Namespace, Keys: []string{key}}))
	if err != nil {
		return err
	}
	for _, e := range res.Msg.GetEntries() {
		if cur, err := decodeFloor(e.GetValue()); err == nil && cur >= block {
			return nil
		}
	}
	_, err = c.client.Set(ctx, connect.NewRequest(&cachev1.SetRequest{
		Namespace: c.cfg.Namespace, Key: key, Value: encodeFloor(block),
		ContentType: floorContentType, Ttl: durationpb.New(c.cfg.FloorTTL),
	}))
	return err
}

func (c *SharedCache) deleteEntries(ctx context.Context, prefix string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	_, err := c.client.Invalidate(ctx, connect.NewRequest(&cachev1.InvalidateRequest{Namespace: c.cfg.Namespace, KeyPrefix: prefix}))
	return err
}

// warn logs a cache failure at most once a second: a cache service that is
// down would otherwise log on every check.
func (c *SharedCache) warn(ctx context.Context, msg string, err error) {
	now := c.cfg.Now().UnixNano()
	last := c.lastWarn.Load()
	if now-last < int64(time.Second) || !c.lastWarn.CompareAndSwap(last, now) {
		return
	}
	c.logger.WarnContext(ctx, msg, "err", err)
}

// Stored values, version 1. An observation: the version byte, the block
// number as a uvarint, CheckedAt as a varint of Unix milliseconds, then the
// balance's big-endian bytes (none for zero). A floor: the version byte and
// the block as a uvarint.
const (
	encodingV1             = 1
	observationContentType = "application/x-streamgate-access-observation-v1"
	floorContentType       = "application/x-streamgate-access-floor-v1"
	maxBalanceBytes        = 32 // uint256
)

func encodeObservation(o Observation) []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+maxBalanceBytes)
	b = append(b, encodingV1)
	b = binary.AppendUvarint(b, o.BlockNumber)
	b = binary.AppendVarint(b, o.CheckedAt.UnixMilli())
	if o.Balance != nil {
		b = append(b, o.Balance.Bytes()...)
	}
	return b
}

func decodeObservation(b []byte) (Observation, error) {
	if len(b) < 1 || b[0] != encodingV1 {
		return Observation{}, errors.New("unknown observation encoding")
	}
	rest := b[1:]
	block, n := binary.Uvarint(rest)
	if n <= 0 {
		return Observation{}, errors.New("bad block number")
	}
	rest = rest[n:]
	ms, n := binary.Varint(rest)
	if n <= 0 {
		return Observation{}, errors.New("bad check time")
	}
	rest = rest[n:]
	if len(rest) > maxBalanceBytes {
		return Observation{}, errors.New("balance over 256 bits")
	}
	return Observation{Balance: new(big.Int).SetBytes(rest), BlockNumber: block, CheckedAt: time.UnixMilli(ms)}, nil
}

func encodeFloor(block uint64) []byte {
	return binary.AppendUvarint([]byte{encodingV1}, block)
}

func decodeFloor(b []byte) (uint64, error) {
	if len(b) < 2 || b[0] != encodingV1 {
		return 0, errors.New("unknown floor encoding")
	}
	block, n := binary.Uvarint(b[1:])
	if n <= 0 || n != len(b)-1 {
		return 0, errors.New("bad floor block")
	}
	return block, nil
}
