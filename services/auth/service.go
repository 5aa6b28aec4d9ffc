// Package auth implements streamgate.auth.v1.AuthService: Sign-In with
// Ethereum, sessions and rotating signing keys, access policies evaluated
// against the chain, and playback tokens.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"github.com/ethereum/go-ethereum/common"
	"go.opentelemetry.io/otel/metric"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/services/auth/siwe"
)

// ContractWallets checks EIP-1271 signatures of contract wallets on a
// chain. hash is accounts.TextHash(message). It returns false for an
// account without code or a contract that does not return the magic
// value, and an error when the chain cannot be asked (SignIn then answers
// Unavailable and never signs the wallet in).
type ContractWallets interface {
	IsValidSignature(ctx context.Context, chainID uint64, wallet common.Address, hash common.Hash, signature []byte) (bool, error)
}

// AccessChecker evaluates an access policy (mode ALL or ANY) for an
// address against the chain. Errors wrap ErrInvalidPolicy for a malformed
// policy (bad address or number, unconfigured chain), ErrPolicyMisconfigured
// for a well-formed policy the contract does not match (ERC-165 says
// another standard, no code) and ErrChainUnavailable when the chain cannot
// be reached; any error is a refusal: access is never granted on error.
type AccessChecker interface {
	Check(ctx context.Context, policy *authv1.AccessPolicy, address common.Address, bypassCache bool) (*authv1.CheckAccessResponse, error)
}

// Videos reads a video from metadata (video.FromMetadata in the binary). An
// unknown id returns an error wrapping video.ErrNotFound.
type Videos interface {
	GetVideo(ctx context.Context, videoID string) (*metadatav1.Video, error)
}

var (
	// ErrInvalidPolicy is wrapped by AccessChecker for a policy it cannot
	// evaluate.
	ErrInvalidPolicy = errors.New("invalid access policy")
	// ErrPolicyMisconfigured is wrapped by AccessChecker for a policy
	// whose contract does not match it.
	ErrPolicyMisconfigured = errors.New("access policy does not match the contract")
	// ErrChainUnavailable is wrapped by AccessChecker when the chain
	// cannot be reached and no cached decision exists.
	ErrChainUnavailable = errors.New("chain unavailable")
)

// Service is the auth service.
type Service struct {
	cfg     Config
	logger  *slog.Logger
	store   *store
	keys    *keyring
	wallets ContractWallets
	access  AccessChecker
	videos  Videos

	keyCache      *contentKeyCache // content keys in clear, by video
	licenceVideos *licenceVideos   // videos the key server read, briefly

	publisher Publisher      // optional: ownership.changed
	follower  PolicyFollower // optional: WithPolicyFollower

	meterProvider metric.MeterProvider // optional: WithMeterProvider
	metrics       *metrics
}

// New opens (or creates) the auth database (cfg.DatabaseURL, or else
// under cfg.DataDir), makes sure a signing key exists and returns the
// service. All dependencies are required: wallets for EIP-1271 sign-in,
// access for policy decisions and videos for the policies of videos.
// Options add optional dependencies (WithPublisher).
func New(cfg Config, wallets ContractWallets, access AccessChecker, videos Videos, logger *slog.Logger, opts ...Option) (*Service, error) {
	if logger == nil {
		return nil, errors.New("auth: nil logger")
	}
	if wallets == nil || access == nil || videos == nil {
		return nil, errors.New("auth: ContractWallets, AccessChecker and Videos are required")
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	probe := siwe.Message{
		Scheme: schemeOf(cfg.URI), Domain: cfg.Domain, Address: common.HexToAddress("0x0000000000000000000000000000000000000001"),
		Statement: cfg.Statement, URI: cfg.URI, Version: siwe.Version, ChainID: cfg.AllowedChainIDs[0],
		Nonce: "AAAAAAAAAAAAAAAAAAAAAAAAAA", IssuedAt: siwe.FormatTime(time.Unix(0, 0)),
	}
	if err := probe.Validate(); err != nil {
		return nil, fmt.Errorf("auth: Domain, URI and Statement must fit EIP-4361: %w", err)
	}
	ctx := context.Background()
	st, err := openStore(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, logger: logger, store: st, wallets: wallets, access: access, videos: videos,
		keyCache:      newContentKeyCache(cfg.Now, contentKeyCacheTTL, maxCachedContentKeys),
		licenceVideos: newLicenceVideos(cfg.Now, cfg.LicenceVideoTTL)}
	for _, o := range opts {
		o(s)
	}
	if s.metrics, err = newMetrics(s.meterProvider); err != nil {
		st.Close()
		return nil, fmt.Errorf("auth: metrics: %w", err)
	}
	s.access = s.metrics.countDecisions(s.access)
	if n, err := st.sealKeys(ctx); err != nil {
		st.Close()
		return nil, err
	} else if n > 0 {
		logger.Info("signing keys sealed under the current key-encryption key", "keys", n, "kek", cfg.KEK.CurrentID())
	}
	if n, err := st.sealContentKeys(ctx); err != nil {
		st.Close()
		return nil, err
	} else if n > 0 {
		logger.Info("content keys sealed under the current key-encryption key", "keys", n, "kek", cfg.KEK.CurrentID())
	}
	s.keys = newKeyring(st, &s.cfg)
	if _, err := s.keys.ensure(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database. Call it after the server stopped serving.
func (s *Service) Close() error { return s.store.Close() }

// Name is the short name the service registers and logs under.
func (s *Service) Name() string { return "auth" }

// ServiceName is the fully-qualified protobuf service name.
func (s *Service) ServiceName() string { return authv1connect.AuthServiceName }

// Handler returns the Connect handler and the path prefix it serves.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return authv1connect.NewAuthServiceHandler(&handler{svc: s}, opts...)
}

// sweepInterval is how often expired nonces, tokens, sessions and
// playback grants go.
const sweepInterval = 10 * time.Minute

// followRetry is how soon Run reads the stored grants' policies again
// after a failed read (see WithPolicyFollower).
const followRetry = 5 * time.Second

// Run rotates signing keys on schedule and sweeps expired rows until ctx
// is done. With WithPolicyFollower it first hands the policies of the
// stored grants to the follower, and again after each sweep.
func (s *Service) Run(ctx context.Context) error {
	nextSweep := s.cfg.Now().Add(sweepInterval)
	// The grants in the database are followed before anything else:
	// retried every followRetry until the database answers.
	followed := false
	nextFollow := s.cfg.Now()
	for {
		if now := s.cfg.Now(); !followed && !now.Before(nextFollow) {
			if err := s.followGrants(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.logger.ErrorContext(ctx, "read the contracts of stored playback grants failed; retrying", "err", err)
				nextFollow = now.Add(followRetry)
			} else {
				followed = true
			}
		}
		next, err := s.keys.ensure(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.logger.ErrorContext(ctx, "signing key rotation failed; retrying", "err", err)
			next = s.cfg.Now().Add(10 * time.Second)
		}
		now := s.cfg.Now()
		if !now.Before(nextSweep) {
			if err := s.store.sweep(ctx, now.Add(-time.Hour)); err != nil && ctx.Err() == nil {
				s.logger.WarnContext(ctx, "sweep failed", "err", err)
			}
			nextSweep = now.Add(sweepInterval)
			// Grants other instances issued since: followed too, should
			// those instances be gone.
			followed = false
			nextFollow = now
		}
		if nextSweep.Before(next) {
			next = nextSweep
		}
		if !followed && nextFollow.Before(next) {
			next = nextFollow
		}
		t := time.NewTimer(max(next.Sub(now), 10*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// HTTPHandlers serves the JWKS as plain JSON at the conventional path, for
// verifiers that are not Connect clients.
func (s *Service) HTTPHandlers() map[string]http.Handler {
	return map[string]http.Handler{"/.well-known/jwks.json": http.HandlerFunc(s.serveJWKS)}
}

func (s *Service) serveJWKS(w http.ResponseWriter, r *http.Request) {
	type jwk struct {
		Kid string `json:"kid"`
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		Alg string `json:"alg"`
		Use string `json:"use"`
		X   string `json:"x"`
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	for _, k := range s.keys.jwks() {
		set.Keys = append(set.Keys, jwk{Kid: k.Kid, Kty: k.Kty, Crv: k.Crv, Alg: k.Alg, Use: k.Use, X: k.X})
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(s.cfg.JWKSMaxAge/time.Second)))
	_ = json.NewEncoder(w).Encode(set)
}

// GetSigningKeys returns the published keys and how long to cache them.
func (s *Service) GetSigningKeys() ([]*authv1.JsonWebKey, time.Duration) {
	return s.keys.jwks(), s.cfg.JWKSMaxAge
}
