package metadata

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/policy"
	"github.com/streamgate/streamgate/internal/video"
	"github.com/streamgate/streamgate/internal/weborigin"
	"github.com/streamgate/streamgate/services/metadata/store"
)

// deletedReason is the status reason of a video its creator deleted.
const deletedReason = "deleted by creator"

// Page sizes from the contract.
const (
	defaultListPageSize   = 20
	maxListPageSize       = 100
	defaultSearchPageSize = 20
	maxSearchPageSize     = 50
)

// NewVideo is what CreateVideo records.
type NewVideo struct {
	RequestID   string
	Creator     string
	Title       string
	Description string
	Tags        []string
	Policy      *authv1.AccessPolicy
	UploadID    string
	// AllowedOrigins, as the creator gave them; normalised here.
	AllowedOrigins []string
	Packaging      metadatav1.Packaging
}

// Changes are the new values of an UpdateVideo; only the fields named in
// the mask ("title", "description", "tags", "access_policy",
// "allowed_origins", "packaging") are used.
type Changes struct {
	Title          string
	Description    string
	Tags           []string
	Policy         *authv1.AccessPolicy
	AllowedOrigins []string
	Packaging      metadatav1.Packaging
}

// ListParams are ListVideos' request fields.
type ListParams struct {
	PageSize  int
	PageToken string
	Creator   string
	Status    store.Status // 0: see ListVideos
	Tag       string
	Gated     *bool
}

// Etag renders a version for clients.
func etag(version int64) string { return "v" + strconv.FormatInt(version, 36) }

func parseEtag(s string) (int64, error) {
	rest, ok := strings.CutPrefix(s, "v")
	v, err := strconv.ParseInt(rest, 36, 64)
	if !ok || err != nil || v <= 0 {
		return 0, invalidf("etag %q is not one this service issued", clip(s))
	}
	return v, nil
}

// CreateVideo records a video in state UPLOADING, or returns the one an
// earlier call with the same creator and request id recorded.
func (s *Service) CreateVideo(ctx context.Context, nv NewVideo) (*store.Video, error) {
	if err := checkOpaqueID("request_id", nv.RequestID, true); err != nil {
		return nil, err
	}
	if err := checkOpaqueID("upload_id", nv.UploadID, false); err != nil {
		return nil, err
	}
	creator, err := normalizeAddress("creator_address", nv.Creator)
	if err != nil {
		return nil, err
	}
	v, err := s.newVideo(creator, nv.Title, nv.Description, nv.Tags, nv.Policy)
	if err != nil {
		return nil, err
	}
	if v.AllowedOrigins, err = normalizeOrigins(nv.AllowedOrigins); err != nil {
		return nil, err
	}
	if v.Packaging, err = checkPackaging(nv.Packaging); err != nil {
		return nil, err
	}
	v.RequestID = nv.RequestID
	v.UploadID = nv.UploadID
	v.Status = store.StatusUploading
	got, created, err := s.store.CreateVideo(ctx, v)
	if err != nil {
		return nil, err
	}
	if created {
		s.logger.InfoContext(ctx, "video created", "video_id", got.ID, "creator", got.Creator, "upload_id", got.UploadID)
	}
	return got, nil
}

// newVideo validates the creator-supplied fields and returns a new video
// with a fresh id and the current time.
func (s *Service) newVideo(creator, title, description string, tags []string, pol *authv1.AccessPolicy) (*store.Video, error) {
	title, err := normalizeTitle(title)
	if err != nil {
		return nil, err
	}
	if err := checkDescription(description); err != nil {
		return nil, err
	}
	tags, err = normalizeTags(tags)
	if err != nil {
		return nil, err
	}
	pol, err = normalizePolicy(pol)
	if err != nil {
		return nil, err
	}
	now := s.now()
	return &store.Video{
		ID: video.NewID(), Creator: creator, Title: title, Description: description, Tags: tags,
		Policy: pol, Gated: policy.Gated(pol), CreateTime: now, UpdateTime: now,
	}, nil
}

func normalizeOrigins(list []string) ([]string, error) {
	out, err := weborigin.NormalizeList(list)
	if err != nil {
		return nil, fmt.Errorf("%w: allowed_origins: %v", ErrInvalidArgument, err)
	}
	return out, nil
}

func normalizePolicy(p *authv1.AccessPolicy) (*authv1.AccessPolicy, error) {
	out, err := policy.Normalize(p)
	if err != nil {
		return nil, fmt.Errorf("%w: access_policy: %v", ErrInvalidArgument, err)
	}
	return out, nil
}

// canSeeAll reports whether the caller may see everything about v: its
// creator and operators.
func canSeeAll(c identity.Caller, v *store.Video) bool {
	return c.Operator || (c.Address != "" && c.Address == v.Creator)
}

// GetVideo returns a video. A DELETED video is NOT_FOUND except to its
// creator and operators.
func (s *Service) GetVideo(ctx context.Context, id string) (*store.Video, error) {
	if err := checkVideoID(id); err != nil {
		return nil, err
	}
	v, err := s.store.GetVideo(ctx, id)
	if err != nil {
		return nil, err
	}
	if v.Status == store.StatusDeleted && !canSeeAll(identity.FromContext(ctx), v) {
		return nil, fmt.Errorf("%w: video %s", ErrNotFound, id)
	}
	return v, nil
}

// owned loads a video the signed-in caller must have created. Others get
// PERMISSION_DENIED, except for a DELETED video, which they cannot see at
// all (NOT_FOUND).
func (s *Service) owned(ctx context.Context, id string) (*store.Video, error) {
	c := identity.FromContext(ctx)
	if !c.Authenticated() {
		return nil, ErrUnauthenticated
	}
	if err := checkVideoID(id); err != nil {
		return nil, err
	}
	v, err := s.store.GetVideo(ctx, id)
	if err != nil {
		return nil, err
	}
	if v.Creator != c.Address {
		if v.Status == store.StatusDeleted && !c.Operator {
			return nil, fmt.Errorf("%w: video %s", ErrNotFound, id)
		}
		return nil, fmt.Errorf("%w: only the creator of video %s may change it", ErrPermissionDenied, id)
	}
	return v, nil
}

// UpdateVideo changes the fields named in mask, if the video is still at
// the version tag names.
func (s *Service) UpdateVideo(ctx context.Context, id, tag string, mask []string, ch Changes) (*store.Video, error) {
	v, err := s.owned(ctx, id)
	if err != nil {
		return nil, err
	}
	if tag == "" {
		return nil, invalidf("etag is required: send the etag of the video you read")
	}
	version, err := parseEtag(tag)
	if err != nil {
		return nil, err
	}
	if len(mask) == 0 {
		return nil, invalidf("update_mask is required: name the fields to change (title, description, tags, access_policy, allowed_origins, packaging)")
	}
	if v.Status == store.StatusDeleted {
		return nil, fmt.Errorf("%w: video %s is deleted", ErrFailedPrecond, id)
	}
	if v.Version != version {
		return nil, fmt.Errorf("%w: video %s", ErrAborted, id)
	}
	e := store.Edit{Title: v.Title, Description: v.Description, Tags: v.Tags, Policy: v.Policy, AllowedOrigins: v.AllowedOrigins, Packaging: v.Packaging}
	for _, path := range mask {
		switch path {
		case "title":
			if e.Title, err = normalizeTitle(ch.Title); err != nil {
				return nil, err
			}
		case "description":
			if err := checkDescription(ch.Description); err != nil {
				return nil, err
			}
			e.Description = ch.Description
		case "tags":
			if e.Tags, err = normalizeTags(ch.Tags); err != nil {
				return nil, err
			}
		case "access_policy":
			if e.Policy, err = normalizePolicy(ch.Policy); err != nil {
				return nil, err
			}
		case "allowed_origins":
			if e.AllowedOrigins, err = normalizeOrigins(ch.AllowedOrigins); err != nil {
				return nil, err
			}
		case "packaging":
			if e.Packaging, err = checkPackaging(ch.Packaging); err != nil {
				return nil, err
			}
			// The transcoder reads it when its job starts, and a
			// re-encode is not offered: a later change would not apply.
			if e.Packaging != v.Packaging && v.Status != store.StatusUploading {
				return nil, fmt.Errorf("%w: video %s: packaging can only change while the video is uploading", ErrFailedPrecond, id)
			}
		default:
			return nil, invalidf("update_mask path %q is not editable: use title, description, tags, access_policy, allowed_origins or packaging", clip(path))
		}
	}
	e.Gated = policy.Gated(e.Policy)
	got, err := s.store.UpdateVideo(ctx, id, version, e)
	if err != nil {
		return nil, err
	}
	s.logger.InfoContext(ctx, "video updated", "video_id", id, "fields", mask)
	s.announceChange(ctx, got)
	return got, nil
}

// announceChange publishes video.changed after a stored change, so that
// streaming stops serving what it cached of the video (a policy, a
// deletion) at once. The change is stored either way: when the bus cannot
// take the event, the caches still expire within their TTL.
func (s *Service) announceChange(ctx context.Context, v *store.Video) {
	err := s.pub.Publish(ctx, &eventsv1.VideoChanged{
		EventId:   fmt.Sprintf("video.changed:%s:%d", v.ID, v.Version),
		OccurTime: timestamppb.New(v.UpdateTime),
		Video:     VideoToProto(v),
	})
	if err != nil {
		s.logger.WarnContext(ctx, "cannot announce a video change; caches catch up when they expire", "video_id", v.ID, "err", err)
	}
}

// DeleteVideo soft-deletes a video and queues removal of its media.
// Deleting a deleted video succeeds and changes nothing.
func (s *Service) DeleteVideo(ctx context.Context, id, tag string) (*store.Video, error) {
	v, err := s.owned(ctx, id)
	if err != nil {
		return nil, err
	}
	var version int64
	if tag != "" {
		if version, err = parseEtag(tag); err != nil {
			return nil, err
		}
	}
	if v.Status == store.StatusDeleted {
		return v, nil
	}
	got, changed, err := s.store.DeleteVideo(ctx, id, version, deletedReason)
	if err != nil {
		return nil, err
	}
	if changed {
		s.logger.InfoContext(ctx, "video deleted; media removal queued", "video_id", id)
		s.announceChange(ctx, got)
	}
	return got, nil
}

// listable are the states a creator sees of their own videos by default.
var listable = []store.Status{store.StatusUploading, store.StatusProcessing, store.StatusReady, store.StatusFailed}

// ListVideos pages through videos, newest first. Others' videos are listed
// only when READY; a creator (or an operator) filtering on a creator sees
// every state but DELETED, or exactly the state asked for.
func (s *Service) ListVideos(ctx context.Context, p ListParams) ([]*store.Video, string, error) {
	size, err := pageSize(p.PageSize, defaultListPageSize, maxListPageSize)
	if err != nil {
		return nil, "", err
	}
	q := store.ListQuery{Gated: p.Gated}
	if p.Creator != "" {
		if q.Creator, err = normalizeAddress("creator_address", p.Creator); err != nil {
			return nil, "", err
		}
	}
	if p.Tag != "" {
		q.Tag = strings.ToLower(p.Tag)
		if err := checkTag(q.Tag); err != nil {
			return nil, "", err
		}
	}
	if p.Status < 0 || p.Status > store.StatusDeleted {
		return nil, "", invalidf("unknown status %d", p.Status)
	}
	c := identity.FromContext(ctx)
	own := q.Creator != "" && (c.Operator || c.Address == q.Creator)
	switch {
	case own && p.Status == 0:
		q.Statuses = listable
	case own:
		q.Statuses = []store.Status{p.Status}
	case p.Status == 0 || p.Status == store.StatusReady:
		q.Statuses = []store.Status{store.StatusReady}
	default:
		// Others' videos in other states are not listed: the page is
		// empty, as it would be for a filter nothing matches.
		return nil, "", nil
	}
	if p.PageToken != "" {
		if q.After, err = decodeListToken(p.PageToken, q); err != nil {
			return nil, "", err
		}
	}
	q.Limit = size + 1
	vs, err := s.store.ListVideos(ctx, q)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(vs) > size {
		vs = vs[:size]
		next = encodeListToken(q, vs[size-1])
	}
	return vs, next, nil
}

// SearchVideos finds READY videos by full text, best match first.
func (s *Service) SearchVideos(ctx context.Context, query string, pageSizeIn int, pageToken string) ([]*store.Video, string, error) {
	size, err := pageSize(pageSizeIn, defaultSearchPageSize, maxSearchPageSize)
	if err != nil {
		return nil, "", err
	}
	words, err := searchWords(query)
	if err != nil {
		return nil, "", err
	}
	if len(words) == 0 {
		// Only punctuation, symbols or emoji: nothing the index holds.
		return nil, "", nil
	}
	offset := 0
	if pageToken != "" {
		if offset, err = decodeSearchToken(pageToken, words); err != nil {
			return nil, "", err
		}
	}
	size = min(size, maxSearchResults-offset)
	vs, err := s.store.SearchVideos(ctx, store.SearchQuery{Words: words, Offset: offset, Limit: size + 1})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(vs) > size {
		vs = vs[:size]
		if offset+size < maxSearchResults {
			next = encodeSearchToken(words, offset+size)
		}
	}
	return vs, next, nil
}

func pageSize(n, def, maxSize int) (int, error) {
	switch {
	case n < 0:
		return 0, invalidf("page_size must not be negative")
	case n == 0:
		return def, nil
	default:
		return min(n, maxSize), nil
	}
}

// checkPackaging accepts the packaging values the contract names.
func checkPackaging(p metadatav1.Packaging) (metadatav1.Packaging, error) {
	switch p {
	case metadatav1.Packaging_PACKAGING_UNSPECIFIED, metadatav1.Packaging_PACKAGING_CLEAR, metadatav1.Packaging_PACKAGING_ENCRYPTED:
		return p, nil
	}
	return 0, invalidf("packaging %d is not a Packaging value", int32(p))
}
