package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/ethclient"
)

// Chain poller defaults.
const (
	defaultChainPollInterval = 15 * time.Second
	defaultChainPollTimeout  = 10 * time.Second
	chainErrorWindow         = 5 * time.Minute
	chainLatencySamples      = 64
	feeHistoryBlocks         = 10
)

// BreakerSource reports the circuit-breaker state of a chain as the chain
// client sees it ("closed", "open", "half-open"); *chain.Client satisfies
// it.
type BreakerSource interface {
	BreakerState(chainID uint64) (string, error)
}

// ChainState is the latest view of one configured chain.
type ChainState struct {
	ChainID       uint64
	Name          string
	RPCHost       string
	HeadNumber    uint64
	HeadTime      time.Time
	BlockAge      time.Duration // at CheckTime
	LatencyP50    time.Duration
	ErrorRatio    float64 // failed polls / polls over the last 5 min
	BaseFee       *big.Int
	PriorityFee   *big.Int
	Breaker       string // "" when unknown
	LastError     string
	CheckTime     time.Time
	HasHead       bool
	chainIDTested bool
}

type outcome struct {
	at time.Time
	ok bool
}

// chainPoller polls one chain's RPC endpoint.
type chainPoller struct {
	id      uint64
	rawURL  string
	host    string
	timeout time.Duration
	logger  *slog.Logger

	mu        sync.Mutex
	client    *ethclient.Client
	state     ChainState
	latencies []time.Duration // ring of the most recent call latencies
	latNext   int
	outcomes  []outcome
}

func newChainPoller(id uint64, name, rawURL string, timeout time.Duration, logger *slog.Logger) (*chainPoller, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("monitor: chain %d: RPC URL is not an absolute URL", id)
	}
	if name == "" {
		name = defaultChainName(id)
	}
	return &chainPoller{
		id: id, rawURL: rawURL, host: u.Host, timeout: timeout, logger: logger.With("chain_id", id, "rpc_host", u.Host),
		state: ChainState{ChainID: id, Name: name, RPCHost: u.Host},
	}, nil
}

func defaultChainName(id uint64) string {
	switch id {
	case 1:
		return "ethereum"
	case 10:
		return "optimism"
	case 137:
		return "polygon"
	case 8453:
		return "base"
	case 42161:
		return "arbitrum"
	case 11155111:
		return "sepolia"
	case 1337, 31337:
		return "devchain"
	default:
		return fmt.Sprintf("chain-%d", id)
	}
}

// scrub removes the RPC URL (which may carry an API key in its path, query
// or user info) from an error text.
func (p *chainPoller) scrub(err error) string {
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) && ue.URL != "" {
		msg = strings.ReplaceAll(msg, ue.URL, p.host)
	}
	msg = strings.ReplaceAll(msg, p.rawURL, p.host)
	if u, perr := url.Parse(p.rawURL); perr == nil {
		msg = strings.ReplaceAll(msg, u.Redacted(), p.host)
		if u.Path != "" && u.Path != "/" {
			msg = strings.ReplaceAll(msg, u.Path, "")
		}
		if u.RawQuery != "" {
			msg = strings.ReplaceAll(msg, u.RawQuery, "")
		}
	}
	return msg
}

// poll runs one check: head block, fee history and (once) the chain id.
func (p *chainPoller) poll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	now := time.Now()
	err := p.check(ctx)
	if err != nil && ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled) {
		return // shutting down
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outcomes = append(p.outcomes, outcome{at: now, ok: err == nil})
	cut := 0
	for cut < len(p.outcomes) && now.Sub(p.outcomes[cut].at) > chainErrorWindow {
		cut++
	}
	p.outcomes = p.outcomes[cut:]
	failed := 0
	for _, o := range p.outcomes {
		if !o.ok {
			failed++
		}
	}
	p.state.ErrorRatio = float64(failed) / float64(len(p.outcomes))
	p.state.CheckTime = now
	prev := p.state.LastError
	if err != nil {
		p.state.LastError = p.scrub(err)
		if p.state.LastError != prev {
			p.logger.Warn("chain poll failed", "error", p.state.LastError)
		}
	} else {
		p.state.LastError = ""
		if prev != "" {
			p.logger.Info("chain poll recovered")
		}
	}
}

func (p *chainPoller) check(ctx context.Context) error {
	p.mu.Lock()
	client := p.client
	p.mu.Unlock()
	if client == nil {
		c, err := ethclient.DialContext(ctx, p.rawURL)
		if err != nil {
			return fmt.Errorf("dial: %w", err)
		}
		p.mu.Lock()
		p.client, client = c, c
		p.mu.Unlock()
	}

	start := time.Now()
	head, err := client.HeaderByNumber(ctx, nil)
	p.recordLatency(time.Since(start))
	if err != nil {
		return fmt.Errorf("head block: %w", err)
	}
	p.mu.Lock()
	tested := p.state.chainIDTested
	p.mu.Unlock()
	if !tested {
		id, err := client.ChainID(ctx)
		if err != nil {
			return fmt.Errorf("chain id: %w", err)
		}
		if !id.IsUint64() || id.Uint64() != p.id {
			return fmt.Errorf("endpoint serves chain %s, configured as %d", id, p.id)
		}
	}
	fh, err := client.FeeHistory(ctx, feeHistoryBlocks, nil, []float64{50})
	if err != nil {
		return fmt.Errorf("fee history: %w", err)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	p.state.chainIDTested = true
	p.state.HasHead = true
	p.state.HeadNumber = head.Number.Uint64()
	p.state.HeadTime = time.Unix(int64(head.Time), 0)
	p.state.BlockAge = max(time.Since(p.state.HeadTime), 0)
	p.state.BaseFee, p.state.PriorityFee = nil, nil
	if n := len(fh.BaseFee); n > 0 {
		// The last entry is the base fee of the block after the newest.
		p.state.BaseFee = new(big.Int).Set(fh.BaseFee[n-1])
	}
	var tips []*big.Int
	for _, r := range fh.Reward {
		if len(r) > 0 && r[0] != nil {
			tips = append(tips, r[0])
		}
	}
	if len(tips) > 0 {
		slices.SortFunc(tips, func(a, b *big.Int) int { return a.Cmp(b) })
		p.state.PriorityFee = new(big.Int).Set(tips[len(tips)/2])
	}
	return nil
}

func (p *chainPoller) recordLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.latencies) < chainLatencySamples {
		p.latencies = append(p.latencies, d)
	} else {
		p.latencies[p.latNext] = d
		p.latNext = (p.latNext + 1) % chainLatencySamples
	}
}

func (p *chainPoller) snapshot(breakers BreakerSource) ChainState {
	p.mu.Lock()
	s := p.state
	lat := append([]time.Duration(nil), p.latencies...)
	p.mu.Unlock()
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		s.LatencyP50 = lat[(len(lat)-1)/2]
	}
	if s.HasHead {
		s.BlockAge = max(time.Since(s.HeadTime), 0)
	}
	if breakers != nil {
		if st, err := breakers.BreakerState(p.id); err == nil {
			s.Breaker = st
		}
	}
	return s
}

func (p *chainPoller) run(ctx context.Context, every time.Duration) {
	defer func() {
		p.mu.Lock()
		if p.client != nil {
			p.client.Close()
		}
		p.mu.Unlock()
	}()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		p.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
