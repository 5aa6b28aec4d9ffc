package auth

import (
	"context"

	"github.com/ethereum/go-ethereum/common"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
)

// WithMeterProvider records auth's domain metrics (access decisions,
// sign-ins) through mp. Without it, nothing is recorded.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(s *Service) { s.meterProvider = mp }
}

// metrics are auth's domain instruments.
type metrics struct {
	decisions metric.Int64Counter
	signIns   metric.Int64Counter
	tokens    metric.Int64Counter
	// contentKeys counts key server decisions: released (by grant) or
	// refused (by reason), the audit trail of who got the keys.
	contentKeys metric.Int64Counter
}

var (
	decisionAllowed = metric.WithAttributeSet(attribute.NewSet(attribute.String("decision", "allowed")))
	decisionDenied  = metric.WithAttributeSet(attribute.NewSet(attribute.String("decision", "denied")))
	decisionError   = metric.WithAttributeSet(attribute.NewSet(attribute.String("decision", "error")))
)

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	meter := mp.Meter("github.com/streamgate/streamgate/services/auth")
	var m metrics
	var err error
	if m.decisions, err = meter.Int64Counter("streamgate.auth.access.decisions",
		metric.WithDescription("Access policy evaluations (playback tokens, CheckAccess, re-checks after transfers), by decision (allowed, denied, error)."),
		metric.WithUnit("{decision}")); err != nil {
		return nil, err
	}
	if m.signIns, err = meter.Int64Counter("streamgate.auth.sign_ins",
		metric.WithDescription("Sessions opened by a verified Sign-In with Ethereum."), metric.WithUnit("{session}")); err != nil {
		return nil, err
	}
	if m.tokens, err = meter.Int64Counter("streamgate.auth.playback_tokens",
		metric.WithDescription("Playback tokens issued, by whether the video is gated (a grant was recorded) or public."),
		metric.WithUnit("{token}")); err != nil {
		return nil, err
	}
	if m.contentKeys, err = meter.Int64Counter("streamgate.auth.content_keys",
		metric.WithDescription("Content key requests of the key server, by outcome (released, refused) and reason (public, creator, holder, preview; not_holder, policy, chain, video, no_keys, error)."),
		metric.WithUnit("{request}")); err != nil {
		return nil, err
	}
	return &m, nil
}

var (
	tokenGated  = metric.WithAttributeSet(attribute.NewSet(attribute.Bool("gated", true)))
	tokenPublic = metric.WithAttributeSet(attribute.NewSet(attribute.Bool("gated", false)))
)

func (m *metrics) issued(ctx context.Context, gated bool) {
	if gated {
		m.tokens.Add(ctx, 1, tokenGated)
	} else {
		m.tokens.Add(ctx, 1, tokenPublic)
	}
}

func (m *metrics) signedIn(ctx context.Context) { m.signIns.Add(ctx, 1) }

// countDecisions wraps the AccessChecker so every evaluation is counted,
// whichever path asked for it.
func (m *metrics) countDecisions(a AccessChecker) AccessChecker {
	return countingChecker{AccessChecker: a, m: m}
}

type countingChecker struct {
	AccessChecker
	m *metrics
}

func (c countingChecker) Check(ctx context.Context, policy *authv1.AccessPolicy, address common.Address, bypassCache bool) (*authv1.CheckAccessResponse, error) {
	dec, err := c.AccessChecker.Check(ctx, policy, address, bypassCache)
	switch {
	case err != nil:
		c.m.decisions.Add(ctx, 1, decisionError)
	case dec.GetAllowed():
		c.m.decisions.Add(ctx, 1, decisionAllowed)
	default:
		c.m.decisions.Add(ctx, 1, decisionDenied)
	}
	return dec, err
}
