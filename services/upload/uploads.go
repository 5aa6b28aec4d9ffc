package upload

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"github.com/oklog/ulid/v2"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
)

// create checks the limits, records the upload, creates its video and
// opens its tus upload. A retry with the same request_id returns the first
// upload, finishing whatever the first attempt left undone.
func (s *Service) create(ctx context.Context, creator string, p *createParams) (*record, error) {
	hash := p.hash()
	rec, err := s.db.reserve(ctx, creator, p.RequestID, func(prev *record, u usage) (*record, error) {
		if prev != nil {
			if prev.RequestHash != hash {
				return nil, invalid("request_id %q was already used with different parameters", p.RequestID)
			}
			return prev, nil
		}
		return s.newRecord(creator, p, hash, u)
	})
	if err != nil {
		return nil, err
	}
	if err := s.provision(ctx, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// newRecord checks the limits against the creator's usage and returns the
// upload to record.
func (s *Service) newRecord(creator string, p *createParams, hash string, u usage) (*record, error) {
	if p.Size > s.cfg.MaxUploadBytes {
		return nil, errorf(connect.CodeResourceExhausted, "size: %d bytes exceeds the limit of %d bytes", p.Size, s.cfg.MaxUploadBytes)
	}
	reserved, active := u.Reserved, u.Active
	if reserved+p.Size > s.cfg.CreatorQuotaBytes || reserved+p.Size < reserved {
		return nil, errorf(connect.CodeResourceExhausted, "quota: %d bytes in use plus %d bytes exceeds the quota of %d bytes", reserved, p.Size, s.cfg.CreatorQuotaBytes)
	}
	if active >= s.cfg.MaxConcurrentUploads {
		return nil, errorf(connect.CodeResourceExhausted, "concurrent uploads: %d unfinished uploads, the limit is %d; finish or cancel one first", active, s.cfg.MaxConcurrentUploads)
	}
	now := s.cfg.Now().UTC()
	rec := &record{
		ID: "upl_" + ulid.Make().String(), Creator: creator, RequestID: p.RequestID, RequestHash: hash,
		Title: p.Title, Description: p.Description, Tags: p.Tags, Policy: p.Policy, Size: p.Size,
		ContentType: p.ContentType, Filename: p.Filename, State: stateCreated,
		CreateTime: now, UpdateTime: now, ExpireTime: now.Add(s.cfg.Inactivity),
	}
	if rec.Tags == nil {
		rec.Tags = []string{}
	}
	return rec, nil
}

// provision creates the video and the tus upload of rec if either is
// missing. Both steps are idempotent (the video by request_id = upload id).
func (s *Service) provision(ctx context.Context, rec *record) error {
	if !acceptsBytes(rec.State) {
		return nil
	}
	unlock, err := s.lockUpload(ctx, rec.ID)
	if err != nil {
		return err
	}
	defer unlock()
	if rec.VideoID == "" {
		v, err := s.videos.CreateVideo(ctx, &metadatav1.CreateVideoRequest{
			RequestId: rec.ID, CreatorAddress: rec.Creator, Title: rec.Title, Description: rec.Description,
			Tags: rec.Tags, AccessPolicy: rec.Policy, UploadId: rec.ID,
		})
		if err != nil {
			return videoError(err)
		}
		if v.GetId() == "" {
			return errors.New("metadata returned a video without an id")
		}
		stored, err := s.db.setVideoID(ctx, rec.ID, v.GetId(), s.cfg.Now())
		if err != nil {
			return err
		}
		rec.VideoID = stored
	}
	return s.openTusUpload(ctx, rec)
}

// videoError keeps what the caller can fix (metadata refusing the title,
// tags or policy) and turns the rest into Unavailable: the create can be
// retried with the same request_id.
func videoError(err error) error {
	switch connect.CodeOf(err) {
	case connect.CodeInvalidArgument:
		var ce *connect.Error
		if errors.As(err, &ce) {
			return invalid("%s", ce.Message())
		}
		return invalid("%v", err)
	case connect.CodeCanceled, connect.CodeDeadlineExceeded:
		return err
	default:
		return errorf(connect.CodeUnavailable, "creating the video failed, retry with the same request_id: %v", connect.CodeOf(err))
	}
}

// get returns the caller's upload, with the live offset while bytes flow.
func (s *Service) get(ctx context.Context, creator, id string) (*record, error) {
	if err := validUploadID(id); err != nil {
		return nil, err
	}
	rec, err := s.db.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if rec.Creator != creator {
		return nil, errNotFound
	}
	if acceptsBytes(rec.State) {
		if off, err := s.tusOffset(ctx, id); err == nil && off > rec.Offset {
			rec.Offset = off
		}
	}
	return rec, nil
}

const (
	defaultPageSize = 20
	maxPageSize     = 100
)

func (s *Service) list(ctx context.Context, creator string, state uploadv1.UploadState, pageSize int32, token string) ([]*record, string, error) {
	if pageSize < 0 || pageSize > maxPageSize {
		return nil, "", invalid("page_size must be 0 to %d", maxPageSize)
	}
	if pageSize == 0 {
		pageSize = defaultPageSize
	}
	if _, ok := uploadv1.UploadState_name[int32(state)]; !ok {
		return nil, "", invalid("unknown state %d", state)
	}
	var after *cursor
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		var c cursor
		if err != nil || json.Unmarshal(b, &c) != nil || c.ID == "" {
			return nil, "", invalid("page_token is malformed")
		}
		if c.State != int32(state) {
			return nil, "", invalid("page_token was issued for a different state filter")
		}
		after = &c
	}
	recs, err := s.db.list(ctx, creator, state, after, int(pageSize)+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(recs) > int(pageSize) {
		recs = recs[:pageSize]
		last := recs[len(recs)-1]
		b, _ := json.Marshal(cursor{CreateTime: last.CreateTime.UnixNano(), ID: last.ID, State: int32(state)})
		next = base64.RawURLEncoding.EncodeToString(b)
	}
	return recs, next, nil
}

// cancel ends an unfinished upload: no more bytes, bytes deleted, state
// CANCELED. An upload already CANCELED, FAILED or EXPIRED is returned as is.
func (s *Service) cancel(ctx context.Context, creator, id string) (*record, error) {
	if err := validUploadID(id); err != nil {
		return nil, err
	}
	unlock, err := s.lockUpload(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rec, err := s.db.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if rec.Creator != creator {
		return nil, errNotFound
	}
	switch {
	case rec.State == stateCompleted:
		return nil, errorf(connect.CodeFailedPrecondition, "upload %s is COMPLETED; delete its video with MetadataService.DeleteVideo instead", id)
	case unfinished(rec.State):
		ok, err := s.db.transition(ctx, id, []uploadv1.UploadState{stateCreated, stateUploading, stateValidating}, stateCanceled, s.cfg.Now(), "")
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("upload %s changed state during cancel", id)
		}
	}
	// Also for an upload already canceled: finish a deletion that an
	// earlier attempt may have left undone.
	if err := s.deleteBytes(ctx, id); err != nil {
		return nil, err
	}
	rec, err = s.db.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if rec.State == stateCanceled {
		// Tell metadata, so the video does not stay UPLOADING. Published
		// again on a repeated cancel: the stable event id deduplicates it.
		if err := s.bus.Publish(ctx, &eventsv1.UploadFailed{
			EventId:        "upload.failed:" + id,
			OccurTime:      timestamppb.New(rec.UpdateTime),
			UploadId:       id,
			VideoId:        rec.VideoID,
			CreatorAddress: rec.Creator,
			Reason:         "upload canceled by its creator",
		}); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// deleteBytes removes the tus files and the blob of an upload.
func (s *Service) deleteBytes(ctx context.Context, id string) error {
	if err := s.deleteTusUpload(ctx, id); err != nil {
		return err
	}
	return s.blobs.Delete(ctx, blobKey(id))
}

// blobKey is where an upload's file is kept in the blob store.
func blobKey(id string) string { return "uploads/" + id + "/source" }
