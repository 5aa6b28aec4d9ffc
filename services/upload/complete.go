package upload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/mediaprobe"
)

// completionLoop completes uploads in VALIDATING: at start (a previous run
// may have stopped half-way), when an upload's last byte arrives, and every
// RetryInterval for those that failed for a passing reason.
func (s *Service) completionLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.RetryInterval)
	defer t.Stop()
	s.recoverReceived(ctx)
	for {
		s.completePending(ctx)
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-t.C:
		}
	}
}

// recoverReceived marks VALIDATING the uploads whose bytes all arrived but
// whose state did not follow (a crash between the last PATCH and the
// state change).
func (s *Service) recoverReceived(ctx context.Context) {
	ids, err := s.db.idsInState(ctx, []uploadv1.UploadState{stateCreated, stateUploading}, time.Time{})
	if err != nil {
		s.logger.ErrorContext(ctx, "upload: recovery scan", "err", err)
		return
	}
	for _, id := range ids {
		rec, err := s.db.get(ctx, id)
		if err != nil {
			continue
		}
		if off, err := s.tusOffset(ctx, id); err == nil && off == rec.Size {
			if err := s.markReceived(ctx, id); err != nil {
				s.logger.ErrorContext(ctx, "upload: recovery", "upload_id", id, "err", err)
			}
		}
	}
}

func (s *Service) completePending(ctx context.Context) {
	ids, err := s.db.idsInState(ctx, []uploadv1.UploadState{stateValidating}, time.Time{})
	if err != nil {
		if ctx.Err() == nil {
			s.logger.ErrorContext(ctx, "upload: list validating uploads", "err", err)
		}
		return
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		if err := s.Complete(ctx, id); err != nil && ctx.Err() == nil {
			s.logger.WarnContext(ctx, "upload: completion failed, will retry", "upload_id", id, "err", err, "retry_in", s.cfg.RetryInterval)
		}
	}
}

// Complete validates an upload in VALIDATING: it copies the bytes into the
// blob store while hashing them, probes them, and publishes
// upload.completed (or upload.failed for media it refuses) before moving
// to COMPLETED (or FAILED). Every step is safe to repeat: the state in the
// database says what is done, and the events carry stable ids that
// JetStream deduplicates. An upload in any other state is left alone. An
// error means a passing failure (store, bus); the upload stays VALIDATING
// and Run retries it.
func (s *Service) Complete(ctx context.Context, id string) error {
	unlock, err := s.lockUpload(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := s.db.get(ctx, id)
	if err != nil {
		return err
	}
	if rec.State != stateValidating {
		return nil
	}
	key := blobKey(id)
	if rec.SHA256 == "" {
		sum, err := s.moveToBlob(ctx, rec, key)
		var lost *lostError
		if errors.As(err, &lost) {
			return s.reject(ctx, rec, lost.reason, nil)
		}
		if err != nil {
			return err
		}
		if err := s.db.setHash(ctx, id, sum, s.cfg.Now()); err != nil {
			return err
		}
		rec.SHA256 = sum
	}
	if rec.MediaInfo == nil {
		info, err := s.probeBlob(ctx, rec, key)
		var rej *mediaprobe.RejectedError
		if errors.As(err, &rej) {
			return s.reject(ctx, rec, rej.Reason, mediaInfoProto(rej.Info))
		}
		if errors.Is(err, blob.ErrNotFound) {
			return s.reject(ctx, rec, lostReason, nil)
		}
		if err != nil {
			return err
		}
		rec.MediaInfo = mediaInfoProto(info)
		if err := s.db.setMediaInfo(ctx, id, rec.MediaInfo, s.cfg.Now()); err != nil {
			return err
		}
	}
	if err := s.deleteTusUpload(ctx, id); err != nil {
		s.logger.WarnContext(ctx, "upload: delete tus files after completion", "upload_id", id, "err", err)
	}
	now := s.cfg.Now()
	if err := s.bus.Publish(ctx, &eventsv1.UploadCompleted{
		EventId:        "upload.completed:" + id,
		OccurTime:      timestamppb.New(now),
		UploadId:       id,
		VideoId:        rec.VideoID,
		CreatorAddress: rec.Creator,
		BlobKey:        key,
		SizeBytes:      rec.Size,
		Sha256:         rec.SHA256,
		MediaInfo:      rec.MediaInfo,
	}); err != nil {
		return fmt.Errorf("publish upload.completed: %w", err)
	}
	moved, err := s.db.transition(ctx, id, []uploadv1.UploadState{stateValidating}, stateCompleted, now, "")
	if err != nil {
		return err
	}
	if moved {
		s.metrics.completed(ctx)
	}
	s.logger.InfoContext(ctx, "upload completed", "upload_id", id, "video_id", rec.VideoID, "bytes", rec.Size, "sha256", rec.SHA256)
	return nil
}

const lostReason = "the uploaded bytes were lost before validation; upload the file again"

// lostError: the upload's bytes are gone (neither tus nor the blob store
// has them); nothing can complete it.
type lostError struct{ reason string }

func (e *lostError) Error() string { return e.reason }

// moveToBlob copies the tus file into the blob store under key, hashing it
// on the way, and returns the hex sha256.
func (s *Service) moveToBlob(ctx context.Context, rec *record, key string) (string, error) {
	up, err := s.composer.Core.GetUpload(ctx, rec.ID)
	if err != nil {
		// A previous attempt may have moved the bytes and died before
		// recording the hash: hash the blob.
		if st, serr := s.blobs.Stat(ctx, key); serr == nil && uint64(st.Size) == rec.Size {
			return s.hashBlob(ctx, key)
		}
		return "", &lostError{reason: lostReason}
	}
	info, err := up.GetInfo(ctx)
	if err != nil {
		return "", fmt.Errorf("tus info: %w", err)
	}
	if uint64(info.Offset) != rec.Size {
		return "", fmt.Errorf("tus holds %d of %d bytes", info.Offset, rec.Size)
	}
	r, err := up.GetReader(ctx)
	if err != nil {
		return "", fmt.Errorf("tus read: %w", err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := s.blobs.Put(ctx, key, io.TeeReader(io.LimitReader(r, int64(rec.Size)+1), h))
	if err != nil {
		return "", fmt.Errorf("store blob: %w", err)
	}
	if uint64(n) != rec.Size {
		_ = s.blobs.Delete(ctx, key)
		return "", fmt.Errorf("copied %d bytes, want %d", n, rec.Size)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (s *Service) hashBlob(ctx context.Context, key string) (string, error) {
	r, err := s.blobs.Get(ctx, key)
	if err != nil {
		return "", err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// probeBlob probes the object in place when the store has files; else the
// tus file it was copied from, while tus still holds all of it (a store
// without files, such as S3, is then not read back); else a temporary copy.
func (s *Service) probeBlob(ctx context.Context, rec *record, key string) (*mediaprobe.Info, error) {
	if fp, ok := s.blobs.(filePather); ok {
		p, err := fp.Path(ctx, key)
		if err != nil {
			return nil, err
		}
		return s.probe.Probe(ctx, p)
	}
	if p, ok := s.tusFile(rec); ok {
		return s.probe.Probe(ctx, p)
	}
	dir := filepath.Join(s.cfg.DataDir, "probe")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, "probe-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	r, err := s.blobs.Get(ctx, key)
	if err != nil {
		f.Close()
		return nil, err
	}
	_, err = io.Copy(f, r)
	r.Close()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return s.probe.Probe(ctx, f.Name())
}

// tusFile is the file tusd's filestore keeps an upload's bytes in
// ("<tus dir>/<id>"), when it holds all of them; the blob was copied from
// it and hashed on the way, so probing it probes the blob.
func (s *Service) tusFile(rec *record) (string, bool) {
	p := filepath.Join(s.tusDir, rec.ID)
	st, err := os.Lstat(p)
	if err != nil || !st.Mode().IsRegular() || uint64(st.Size()) != rec.Size || rec.SHA256 == "" {
		return "", false
	}
	return p, true
}

// reject ends an upload FAILED with a reason: upload.failed published,
// bytes deleted, then the state recorded.
func (s *Service) reject(ctx context.Context, rec *record, reason string, mi *metadatav1.MediaInfo) error {
	now := s.cfg.Now()
	if err := s.bus.Publish(ctx, &eventsv1.UploadFailed{
		EventId:        "upload.failed:" + rec.ID,
		OccurTime:      timestamppb.New(now),
		UploadId:       rec.ID,
		VideoId:        rec.VideoID,
		CreatorAddress: rec.Creator,
		Reason:         reason,
	}); err != nil {
		return fmt.Errorf("publish upload.failed: %w", err)
	}
	// The bytes go before the state says FAILED, so a FAILED upload has
	// none. A crash in between is retried: the probe then finds nothing
	// and the upload fails as lost (the event, already out, keeps its
	// reason).
	if err := s.deleteBytes(ctx, rec.ID); err != nil {
		return fmt.Errorf("delete rejected bytes: %w", err)
	}
	b, err := marshalOrNil(mi)
	if err != nil {
		return err
	}
	moved, err := s.db.transition(ctx, rec.ID, []uploadv1.UploadState{stateValidating}, stateFailed, now,
		"failure_reason = ?, media_info = ?", reason, b)
	if err != nil {
		return err
	}
	if moved {
		s.metrics.failed(ctx)
	}
	s.logger.InfoContext(ctx, "upload rejected", "upload_id", rec.ID, "reason", reason)
	return nil
}

func mediaInfoProto(i *mediaprobe.Info) *metadatav1.MediaInfo {
	if i == nil {
		return nil
	}
	mi := &metadatav1.MediaInfo{
		FormatName: i.FormatName,
		Duration:   durationpb.New(i.Duration),
		SizeBytes:  i.SizeBytes,
		BitRateBps: i.BitRate,
	}
	if v := i.Video; v != nil {
		mi.Video = &metadatav1.VideoStreamInfo{
			Codec: v.Codec, Width: uint32(max(v.Width, 0)), Height: uint32(max(v.Height, 0)),
			FrameRate: v.FrameRate, PixelFormat: v.PixelFormat, RotationDegrees: int32(v.Rotation),
		}
	}
	if a := i.Audio; a != nil {
		mi.Audio = &metadatav1.AudioStreamInfo{Codec: a.Codec, SampleRateHz: uint32(max(a.SampleRate, 0)), Channels: uint32(max(a.Channels, 0))}
	}
	return mi
}
