package streaming

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
)

// ContentKeys releases a video's content keys to a viewer: auth's
// ReleaseContentKeys, which decides from the policy at the latest check.
// authv1connect.AuthServiceClient satisfies it.
type ContentKeys interface {
	ReleaseContentKeys(ctx context.Context, req *connect.Request[authv1.ReleaseContentKeysRequest]) (*connect.Response[authv1.ReleaseContentKeysResponse], error)
}

const (
	// maxLicenceBody bounds a licence request: a ClearKey request names a
	// few key ids (about 25 bytes each).
	maxLicenceBody = 4 << 10
	// maxLicenceKIDs bounds the key ids of one request; a video has two.
	maxLicenceKIDs = 16
	// anonymousAddress asks auth for a public video's keys, which has no
	// token and so no wallet. Auth answers PUBLIC for a public policy; the
	// key server releases nothing on any other grant (see serveLicence).
	anonymousAddress = "0x0000000000000000000000000000000000000000"
	// releaseTimeout bounds the call to auth: a CDM waiting longer is
	// better told 503 and to retry.
	releaseTimeout = 5 * time.Second
)

// Licence refusals and failures; licenceError maps them.
var (
	errPassNeeded  = errors.New("a pass is needed: this wallet does not hold what the video's access policy asks, so it gets no key for this part of the video")
	errBadLicence  = errors.New("bad licence request")
	errNoKeys      = errors.New("this video has no content keys: it is packaged in clear")
	errUnknownKID  = errors.New("none of the requested key ids belongs to this video")
	errPolicy      = errors.New("the video's access policy cannot be evaluated, so no key is released")
	errNoKeyServer = errors.New("this instance releases no content keys")
)

// clearKeyRequest is the W3C ClearKey licence request a CDM sends (EME,
// "Clear Key": the "keyids" init data format's license request).
type clearKeyRequest struct {
	KIDs []string `json:"kids"`
	Type string   `json:"type"`
}

// clearKeyResponse is the JSON Web Key set the CDM takes back.
type clearKeyResponse struct {
	Keys []clearKeyJWK `json:"keys"`
	Type string        `json:"type"`
}

type clearKeyJWK struct {
	Kty string `json:"kty"`
	KID string `json:"kid"`
	K   string `json:"k"`
}

var b64url = base64.RawURLEncoding

// parseLicenceRequest reads and checks a ClearKey request: JSON, one to
// maxLicenceKIDs key ids, each 16 bytes in base64url (padding tolerated).
// It returns the key ids decoded, deduplicated, in request order.
func parseLicenceRequest(body io.Reader) ([][]byte, error) {
	b, err := io.ReadAll(io.LimitReader(body, maxLicenceBody+1))
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read the body: %v", errBadLicence, err)
	}
	if len(b) > maxLicenceBody {
		return nil, fmt.Errorf("%w: the body exceeds %d bytes", errBadLicence, maxLicenceBody)
	}
	var req clearKeyRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf(`%w: want JSON {"kids":["<base64url key id>"],"type":"temporary"}: %v`, errBadLicence, err)
	}
	if len(req.KIDs) == 0 {
		return nil, fmt.Errorf("%w: kids is empty", errBadLicence)
	}
	if len(req.KIDs) > maxLicenceKIDs {
		return nil, fmt.Errorf("%w: %d kids, at most %d", errBadLicence, len(req.KIDs), maxLicenceKIDs)
	}
	out := make([][]byte, 0, len(req.KIDs))
	seen := map[string]bool{}
	for _, s := range req.KIDs {
		kid, err := b64url.DecodeString(strings.TrimRight(s, "="))
		if err != nil || len(kid) != 16 {
			return nil, fmt.Errorf("%w: kid %q is not 16 bytes in base64url", errBadLicence, s)
		}
		if !seen[string(kid)] {
			seen[string(kid)] = true
			out = append(out, kid)
		}
	}
	return out, nil
}

// serveLicence answers a ClearKey licence request for the grant's video
// (POST /play/<video>/licence; the token checked and the origin admitted by
// servePlay). It releases the requested keys auth releases to the token's
// wallet, and nothing on any error: the key server fails closed.
func (s *Service) serveLicence(w http.ResponseWriter, r *http.Request, g *grant) {
	ctx := r.Context()
	h := w.Header()
	if s.keys == nil {
		s.licenceError(ctx, w, errNoKeyServer)
		return
	}
	kids, err := parseLicenceRequest(r.Body)
	if err != nil {
		s.licenceError(ctx, w, err)
		return
	}
	addr := anonymousAddress
	if g.claims != nil {
		addr = g.claims.Address
	}
	rctx, cancel := context.WithTimeout(ctx, releaseTimeout)
	defer cancel()
	res, err := s.release(rctx, g, addr)
	if err != nil {
		// Auth's reason (and a mesh refusal, also PermissionDenied,
		// which only a misconfiguration causes) stays in the log.
		s.logger.DebugContext(ctx, "content keys not released", "video_id", g.id, "err", err)
		s.licenceError(ctx, w, releaseErr(err))
		return
	}
	grant := res.GetGrant()
	if g.claims == nil && grant != authv1.PlaybackGrant_PLAYBACK_GRANT_PUBLIC {
		// Streaming saw a public video, auth a gated one (a policy
		// changed within VideoCacheTTL): the viewer has no wallet to
		// judge, so nothing is released.
		s.licenceError(ctx, w, errPassNeeded)
		return
	}
	released := map[string][]byte{}
	for _, k := range res.GetKeys() {
		released[string(k.GetKeyId())] = k.GetKey()
	}
	out := clearKeyResponse{Keys: []clearKeyJWK{}, Type: "temporary"}
	for _, kid := range kids {
		if k, ok := released[string(kid)]; ok && len(k) == 16 {
			out.Keys = append(out.Keys, clearKeyJWK{Kty: "oct", KID: b64url.EncodeToString(kid), K: b64url.EncodeToString(k)})
		}
	}
	if len(out.Keys) == 0 {
		if grant == authv1.PlaybackGrant_PLAYBACK_GRANT_PREVIEW {
			// The full key of a preview viewer: past the preview.
			s.licenceError(ctx, w, errPassNeeded)
		} else {
			s.licenceError(ctx, w, errUnknownKID)
		}
		return
	}
	body, err := json.Marshal(out)
	if err != nil {
		s.licenceError(ctx, w, fmt.Errorf("%w: encode licence: %v", errUnavailable, err))
		return
	}
	s.metrics.licence(ctx, licenceOutcome(grant))
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(body)
}

// releaseErr maps auth's answer to the key server's errors. Anything auth
// does not state as a refusal is a failure to decide: 503, nothing
// released.
func releaseErr(err error) error {
	switch connect.CodeOf(err) {
	case connect.CodePermissionDenied:
		return errPassNeeded
	case connect.CodeNotFound:
		return errNoKeys
	case connect.CodeFailedPrecondition:
		return errPolicy
	}
	return fmt.Errorf("%w: release content keys: %v", errUnavailable, err)
}

// licenceError answers a failed licence request and counts it.
func (s *Service) licenceError(ctx context.Context, w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errBadLicence):
		s.metrics.licence(ctx, "bad_request")
		http.Error(w, err.Error(), http.StatusBadRequest)
	case errors.Is(err, errPassNeeded):
		s.metrics.licence(ctx, "pass_needed")
		http.Error(w, errPassNeeded.Error(), http.StatusForbidden)
	case errors.Is(err, errPolicy):
		s.metrics.licence(ctx, "policy")
		http.Error(w, errPolicy.Error(), http.StatusForbidden)
	case errors.Is(err, errNoKeys), errors.Is(err, errUnknownKID):
		s.metrics.licence(ctx, "no_keys")
		http.Error(w, err.Error(), http.StatusNotFound)
	case errors.Is(err, errNoKeyServer):
		s.metrics.licence(ctx, "no_key_server")
		http.Error(w, err.Error(), http.StatusNotImplemented)
	default:
		s.metrics.licence(ctx, "unavailable")
		s.logger.WarnContext(ctx, "licence request failed", "err", err)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "keys temporarily unavailable; try again", http.StatusServiceUnavailable)
	}
}

func licenceOutcome(g authv1.PlaybackGrant) string {
	switch g {
	case authv1.PlaybackGrant_PLAYBACK_GRANT_PUBLIC:
		return "released_public"
	case authv1.PlaybackGrant_PLAYBACK_GRANT_CREATOR:
		return "released_creator"
	case authv1.PlaybackGrant_PLAYBACK_GRANT_HOLDER:
		return "released_holder"
	case authv1.PlaybackGrant_PLAYBACK_GRANT_PREVIEW:
		return "released_preview"
	}
	return "released"
}
