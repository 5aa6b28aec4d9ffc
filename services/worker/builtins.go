package worker

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"github.com/oklog/ulid/v2"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	transcoderv1 "github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1"
	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
	"github.com/streamgate/streamgate/internal/video"
)

// Built-in kinds that call the owning services' internal RPCs.
const (
	KindUploadCleanup     = "upload.cleanup"
	KindOwnershipReverify = "ownership.reverify"
	KindMediaDeleteScan   = "media.delete.scan"
	KindMediaDelete       = "media.delete"
)

// UploadClient is the part of UploadService the built-in kinds call (the
// generated client implements it).
type UploadClient interface {
	ExpireAbandonedUploads(context.Context, *connect.Request[uploadv1.ExpireAbandonedUploadsRequest]) (*connect.Response[uploadv1.ExpireAbandonedUploadsResponse], error)
	DeleteVideoSource(context.Context, *connect.Request[uploadv1.DeleteVideoSourceRequest]) (*connect.Response[uploadv1.DeleteVideoSourceResponse], error)
}

// MetadataClient is the part of MetadataService media deletion calls.
type MetadataClient interface {
	GetVideo(context.Context, *connect.Request[metadatav1.GetVideoRequest]) (*connect.Response[metadatav1.GetVideoResponse], error)
	ListPendingMediaDeletions(context.Context, *connect.Request[metadatav1.ListPendingMediaDeletionsRequest]) (*connect.Response[metadatav1.ListPendingMediaDeletionsResponse], error)
	CompleteMediaDeletion(context.Context, *connect.Request[metadatav1.CompleteMediaDeletionRequest]) (*connect.Response[metadatav1.CompleteMediaDeletionResponse], error)
}

// TranscoderClient is the part of TranscoderService media deletion calls.
type TranscoderClient interface {
	DeleteVideoMedia(context.Context, *connect.Request[transcoderv1.DeleteVideoMediaRequest]) (*connect.Response[transcoderv1.DeleteVideoMediaResponse], error)
}

// AuthClient is the part of AuthService ownership re-verification calls.
type AuthClient interface {
	ReverifyGrants(context.Context, *connect.Request[authv1.ReverifyGrantsRequest]) (*connect.Response[authv1.ReverifyGrantsResponse], error)
}

// Builtins are the services the built-in kinds call, through the mesh. A
// kind whose services are missing (nil) is not registered and gets no
// default schedule: upload.cleanup needs Upload; ownership.reverify needs
// Auth; media.delete and media.delete.scan need Upload, Metadata and
// Transcoder. ContentKeys, when set, has media.delete forget the video's
// content keys too.
type Builtins struct {
	Upload      UploadClient
	Metadata    MetadataClient
	Transcoder  TranscoderClient
	Auth        AuthClient
	ContentKeys ContentKeysClient
}

// ContentKeysClient is the part of AuthService media deletion calls: the
// keys of an encrypted video go with its media.
type ContentKeysClient interface {
	DeleteContentKeys(context.Context, *connect.Request[authv1.DeleteContentKeysRequest]) (*connect.Response[authv1.DeleteContentKeysResponse], error)
}

// Option configures optional dependencies of New.
type Option func(*Service)

// WithBuiltins registers the built-in kinds b can serve, and their default
// schedules.
func WithBuiltins(b Builtins) Option { return func(s *Service) { s.builtins = b } }

// builtinSchedule is a kind's default schedule.
type builtinSchedule struct {
	kind, spec string
}

// defaultSchedules: cleanup every 5 minutes (an upload's inactivity period
// is hours, so minutes of lateness do not matter); re-verification every
// minute (a revoked viewer keeps playing at most this long beyond the
// watcher); deletions scanned every minute.
var defaultSchedules = []builtinSchedule{
	{KindUploadCleanup, "*/5 * * * *"},
	{KindOwnershipReverify, "* * * * *"},
	{KindMediaDeleteScan, "* * * * *"},
}

func (s *Service) registerBuiltins() error {
	b := s.builtins
	type reg struct {
		kind string
		h    Handler
		opts KindOptions
		ok   bool
	}
	media := b.Upload != nil && b.Metadata != nil && b.Transcoder != nil
	for _, r := range []reg{
		{KindUploadCleanup, s.uploadCleanup, KindOptions{Concurrency: 1, Timeout: 5 * time.Minute}, b.Upload != nil},
		{KindOwnershipReverify, s.ownershipReverify, KindOptions{Concurrency: 1, Timeout: 5 * time.Minute}, b.Auth != nil},
		{KindMediaDeleteScan, s.mediaDeleteScan, KindOptions{Concurrency: 1, Timeout: time.Minute}, media},
		{KindMediaDelete, s.mediaDelete, KindOptions{Concurrency: 4, Timeout: 5 * time.Minute}, media},
	} {
		if !r.ok {
			continue
		}
		if err := s.Register(r.kind, r.h, r.opts); err != nil {
			return err
		}
	}
	return nil
}

// builtinScheduleID is the fixed id of a kind's default schedule, the same
// on every replica, so concurrent start-ups create it once.
func builtinScheduleID(kind string) string {
	sum := sha256.Sum256([]byte("streamgate.worker.builtin:" + kind))
	var u ulid.ULID
	copy(u[:], sum[:16])
	return "sch_" + u.String()
}

func builtinScheduleName(kind string) string { return "builtin." + kind }

// ensureBuiltinSchedules creates the default schedule of every registered
// built-in kind that has none. Both writes are KV Create, so replicas
// starting together create each schedule once; a schedule an operator
// deleted comes back at the next start. A name taken by an operator's own
// schedule is left alone.
func (s *Service) ensureBuiltinSchedules(ctx context.Context) error {
	if s.etcd == nil {
		return nil // no scheduler on this node
	}
	kv := s.jobs.kv
	var errs []error
	for _, d := range defaultSchedules {
		if _, ok := s.jobs.kind(d.kind); !ok {
			continue
		}
		id, name := builtinScheduleID(d.kind), builtinScheduleName(d.kind)
		if _, err := kv.Create(ctx, schNameKey(name), []byte(id)); err != nil {
			if !isConflict(err) {
				errs = append(errs, fmt.Errorf("schedule %s: %w", name, err))
				continue
			}
			e, err := kv.Get(ctx, schNameKey(name))
			if err != nil {
				errs = append(errs, fmt.Errorf("schedule %s: %w", name, err))
				continue
			}
			if string(e.Value()) != id {
				s.logger.WarnContext(ctx, "worker: the name of a built-in schedule is taken; not creating it", "name", name, "schedule", string(e.Value()))
				continue
			}
		}
		sc := Schedule{ID: id, Name: name, CronSpec: d.spec, Timezone: "UTC", Kind: d.kind, Payload: []byte("{}"), CreateTime: s.jobs.now()}
		b, _ := json.Marshal(sc)
		if _, err := kv.Create(ctx, schKey(id), b); err != nil && !isConflict(err) {
			errs = append(errs, fmt.Errorf("schedule %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// limitPayload reads {"limit": n} (or an empty payload) for the periodic
// kinds; n is handed to the service, which checks its range.
func limitPayload(payload []byte) (int32, error) {
	var p struct {
		Limit int32 `json:"limit"`
	}
	if len(payload) == 0 {
		return 0, nil
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return 0, Permanent(fmt.Errorf("payload is not {\"limit\": n}: %w", err))
	}
	return p.Limit, nil
}

// rpcError makes a refusal that retrying cannot fix (a bad argument, a
// precondition) permanent; anything else (Unavailable, a timeout) is
// retried with backoff.
func rpcError(what string, err error) error {
	err = fmt.Errorf("%s: %w", what, err)
	switch connect.CodeOf(err) {
	case connect.CodeInvalidArgument, connect.CodeFailedPrecondition, connect.CodePermissionDenied,
		connect.CodeUnimplemented, connect.CodeUnauthenticated:
		return Permanent(err)
	}
	return err
}

// uploadCleanup is upload.cleanup: UploadService expires abandoned uploads
// and deletes their bytes.
func (s *Service) uploadCleanup(ctx context.Context, job Job) error {
	limit, err := limitPayload(job.Payload)
	if err != nil {
		return err
	}
	res, err := s.builtins.Upload.ExpireAbandonedUploads(ctx, connect.NewRequest(&uploadv1.ExpireAbandonedUploadsRequest{Limit: limit}))
	if err != nil {
		return rpcError("expire abandoned uploads", err)
	}
	if n := res.Msg.GetExpiredCount(); n > 0 {
		s.logger.InfoContext(ctx, "worker: expired abandoned uploads", "job", job.ID, "expired", n, "more", res.Msg.GetMore())
	}
	return nil
}

// ownershipReverify is ownership.reverify: AuthService re-checks live
// playback grants against the chain and revokes those no longer held.
func (s *Service) ownershipReverify(ctx context.Context, job Job) error {
	limit, err := limitPayload(job.Payload)
	if err != nil {
		return err
	}
	res, err := s.builtins.Auth.ReverifyGrants(ctx, connect.NewRequest(&authv1.ReverifyGrantsRequest{Limit: limit}))
	if err != nil {
		return rpcError("reverify grants", err)
	}
	if m := res.Msg; m.GetRevokedCount() > 0 || m.GetFailedCount() > 0 {
		s.logger.InfoContext(ctx, "worker: re-verified playback grants", "job", job.ID,
			"checked", m.GetCheckedCount(), "revoked", m.GetRevokedCount(), "failed", m.GetFailedCount())
	}
	return nil
}

// mediaDeleteScan is media.delete.scan: it fans the metadata outbox out
// into one media.delete job per video. One job per video, rather than one
// batch job, so each video has its own attempts, backoff and dead letter
// (visible in ListJobs, revivable with RetryJob) and one failing store
// object never holds back the others; the idempotency key
// "media.delete:<video id>" makes the every-minute rescan of a row still
// pending (its job running, retrying or dead) queue nothing new.
func (s *Service) mediaDeleteScan(ctx context.Context, job Job) error {
	limit, err := limitPayload(job.Payload)
	if err != nil {
		return err
	}
	res, err := s.builtins.Metadata.ListPendingMediaDeletions(ctx, connect.NewRequest(&metadatav1.ListPendingMediaDeletionsRequest{PageSize: limit}))
	if err != nil {
		return rpcError("list pending media deletions", err)
	}
	for _, d := range res.Msg.GetDeletions() {
		payload, _ := json.Marshal(mediaDeletePayload{VideoID: d.GetVideoId()})
		if _, _, err := s.Submit(ctx, SubmitParams{Kind: KindMediaDelete, Payload: payload, IdempotencyKey: "media.delete:" + d.GetVideoId()}); err != nil {
			return fmt.Errorf("queue media.delete for %s: %w", d.GetVideoId(), err)
		}
	}
	return nil
}

type mediaDeletePayload struct {
	VideoID string `json:"video_id"`
}

// mediaDelete is media.delete: the source bytes (upload's), then the
// renditions (the transcoder's), then the content keys (auth's), then the
// outbox row (metadata's). Each step is idempotent, so a retry after a
// partial run finishes the work.
func (s *Service) mediaDelete(ctx context.Context, job Job) error {
	var p mediaDeletePayload
	if err := json.Unmarshal(job.Payload, &p); err != nil {
		return Permanent(errors.New(`payload is not {"video_id": "vid_..."}`))
	}
	if err := video.CheckID(p.VideoID); err != nil {
		return Permanent(fmt.Errorf("payload video_id: %w", err))
	}
	b := s.builtins
	// Guard: never remove the media of a live video. GetVideo answers
	// NOT_FOUND for a deleted video to a caller that is neither its
	// creator nor an operator, which a job is; a video it returns is live.
	_, err := b.Metadata.GetVideo(ctx, connect.NewRequest(&metadatav1.GetVideoRequest{VideoId: p.VideoID}))
	switch {
	case err == nil:
		return Permanent(fmt.Errorf("video %s is not deleted: its media stays", p.VideoID))
	case connect.CodeOf(err) != connect.CodeNotFound:
		return rpcError("check video "+p.VideoID, err)
	}
	if _, err := b.Upload.DeleteVideoSource(ctx, connect.NewRequest(&uploadv1.DeleteVideoSourceRequest{VideoId: p.VideoID})); err != nil {
		return rpcError("delete source of "+p.VideoID, err)
	}
	if _, err := b.Transcoder.DeleteVideoMedia(ctx, connect.NewRequest(&transcoderv1.DeleteVideoMediaRequest{VideoId: p.VideoID})); err != nil {
		return rpcError("delete renditions of "+p.VideoID, err)
	}
	if b.ContentKeys != nil {
		if _, err := b.ContentKeys.DeleteContentKeys(ctx, connect.NewRequest(&authv1.DeleteContentKeysRequest{VideoId: p.VideoID})); err != nil {
			return rpcError("delete content keys of "+p.VideoID, err)
		}
	}
	_, err = b.Metadata.CompleteMediaDeletion(ctx, connect.NewRequest(&metadatav1.CompleteMediaDeletionRequest{VideoId: p.VideoID}))
	if connect.CodeOf(err) == connect.CodeNotFound {
		// No removal was queued: the video never existed. Nothing to mark.
		return nil
	}
	if err != nil {
		return rpcError("complete media deletion of "+p.VideoID, err)
	}
	return nil
}
