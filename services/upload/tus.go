package upload

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/tus/tusd/v2/pkg/filelocker"
	"github.com/tus/tusd/v2/pkg/filestore"
	tusd "github.com/tus/tusd/v2/pkg/handler"

	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/rpcerr"
)

// tusBasePath is where the tus routes are mounted, on the service and on
// the gateway.
const tusBasePath = "/uploads/"

// errCreationRefused answers a tus POST: uploads are opened by CreateUpload.
var errCreationRefused = tusd.NewError("ERR_CREATION_REFUSED",
	"uploads are created with UploadService.CreateUpload; send the bytes to its tus_url", http.StatusForbidden)

func (s *Service) newTusHandler() error {
	cors := tusd.DefaultCorsConfig
	cors.ExposeHeaders += ", Upload-Expires"
	if s.cfg.DevMode {
		cors.AllowHeaders += ", " + identity.DevAddressHeader
	}
	c := tusd.NewStoreComposer()
	if media, ok := s.blobs.(*blob.S3); ok {
		// Every instance reaches the partial uploads: a resume may go
		// to any of them. tusDir holds parts on their way to S3.
		newTusS3Store(media, s.tusDir).UseIn(c)
	} else {
		filestore.New(s.tusDir).UseIn(c)
	}
	if s.cfg.Locker != nil {
		c.UseLocker(s.cfg.Locker)
	} else {
		filelocker.New(s.tusDir).UseIn(c)
	}
	h, err := tusd.NewHandler(tusd.Config{
		BasePath:                tusBasePath,
		StoreComposer:           c,
		MaxSize:                 int64(min(s.cfg.MaxUploadBytes, 1<<62)),
		DisableDownload:         true,
		DisableConcatenation:    true,
		Cors:                    &cors,
		RespectForwardedHeaders: true,
		Logger:                  tusLogger(s.logger),
		PreUploadCreateCallback: func(tusd.HookEvent) (tusd.HTTPResponse, tusd.FileInfoChanges, error) {
			return tusd.HTTPResponse{}, tusd.FileInfoChanges{}, errCreationRefused
		},
		PreFinishResponseCallback: func(ev tusd.HookEvent) (tusd.HTTPResponse, error) {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ev.Context), 10*time.Second)
			defer cancel()
			if err := s.markReceived(ctx, ev.Upload.ID); err != nil {
				// The bytes are stored; Run's recovery finds the
				// finished tus upload and marks it later.
				s.logger.Error("upload: mark received", "upload_id", ev.Upload.ID, "err", err)
			}
			return tusd.HTTPResponse{}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("upload: tus handler: %w", err)
	}
	s.composer, s.tus = c, h
	return nil
}

// markReceived moves an upload whose every byte has arrived to VALIDATING
// and wakes the completion loop.
func (s *Service) markReceived(ctx context.Context, id string) error {
	rec, err := s.db.get(ctx, id)
	if err != nil {
		return err
	}
	if _, err := s.db.transition(ctx, id, []uploadv1.UploadState{stateCreated, stateUploading}, stateValidating, s.cfg.Now(),
		"offset_bytes = ?", int64(rec.Size)); err != nil {
		return err
	}
	s.wake()
	return nil
}

func (s *Service) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// openTusUpload creates the tus upload of rec with the server-chosen id,
// unless it exists.
func (s *Service) openTusUpload(ctx context.Context, rec *record) error {
	_, err := s.composer.Core.GetUpload(ctx, rec.ID)
	if err == nil {
		return nil
	}
	if !errors.Is(err, tusd.ErrNotFound) {
		return fmt.Errorf("tus: get %s: %w", rec.ID, err)
	}
	_, err = s.composer.Core.NewUpload(ctx, tusd.FileInfo{
		ID:       rec.ID,
		Size:     int64(rec.Size),
		MetaData: tusd.MetaData{"filename": rec.Filename, "filetype": rec.ContentType},
	})
	if err != nil {
		return fmt.Errorf("tus: create %s: %w", rec.ID, err)
	}
	return nil
}

// tusOffset returns the bytes the tus store holds for id.
func (s *Service) tusOffset(ctx context.Context, id string) (uint64, error) {
	up, err := s.composer.Core.GetUpload(ctx, id)
	if err != nil {
		return 0, err
	}
	info, err := up.GetInfo(ctx)
	if err != nil {
		return 0, err
	}
	return uint64(info.Offset), nil
}

// deleteTusUpload stops any PATCH in flight (through the upload lock) and
// deletes the tus upload's files. A missing upload is not an error.
func (s *Service) deleteTusUpload(ctx context.Context, id string) error {
	lock, err := s.composer.Locker.NewLock(id)
	if err != nil {
		return fmt.Errorf("tus: lock %s: %w", id, err)
	}
	lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := lock.Lock(lctx, func() {}); err != nil {
		return fmt.Errorf("tus: lock %s: %w", id, err)
	}
	defer lock.Unlock()
	up, err := s.composer.Core.GetUpload(ctx, id)
	if errors.Is(err, tusd.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tus: get %s: %w", id, err)
	}
	if err := s.composer.Terminater.AsTerminatableUpload(up).Terminate(ctx); err != nil &&
		!errors.Is(err, tusd.ErrNotFound) && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("tus: terminate %s: %w", id, err)
	}
	return nil
}

// tusRoutes serves /uploads/<id>: the caller must be the upload's creator;
// POST (creation) is refused, PATCH is accepted only while the upload
// accepts bytes, DELETE cancels the upload.
func (s *Service) tusRoutes() http.Handler {
	inner := http.StripPrefix(strings.TrimSuffix(tusBasePath, "/"), s.tus)
	return identity.HTTPMiddleware(s.cfg.DevMode, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serveTus(w, r, inner)
	}))
}

func tusError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Tus-Resumable", "1.0.0")
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, msg, status)
}

func (s *Service) serveTus(w http.ResponseWriter, r *http.Request, inner http.Handler) {
	if r.Method == http.MethodOptions {
		inner.ServeHTTP(&extWriter{ResponseWriter: w}, r)
		return
	}
	if r.Method == http.MethodPost {
		tusError(w, http.StatusForbidden, errCreationRefused.Message)
		return
	}
	id := strings.TrimPrefix(r.URL.Path, tusBasePath)
	if validUploadID(id) != nil {
		tusError(w, http.StatusNotFound, "upload not found")
		return
	}
	caller := identity.FromContext(r.Context())
	if !caller.Authenticated() {
		tusError(w, http.StatusUnauthorized, identity.ErrUnauthenticated.Error())
		return
	}
	rec, err := s.db.get(r.Context(), id)
	if err != nil || rec.Creator != caller.Address {
		if err != nil && !errors.Is(err, errNotFound) {
			s.logger.ErrorContext(r.Context(), "upload: tus lookup", "upload_id", id, "err", err)
			tusError(w, http.StatusInternalServerError, "internal error")
			return
		}
		tusError(w, http.StatusNotFound, "upload not found")
		return
	}
	now := s.cfg.Now()
	gone := rec.State == stateCanceled || rec.State == stateExpired || (acceptsBytes(rec.State) && !now.Before(rec.ExpireTime))
	switch r.Method {
	case http.MethodHead:
		if gone {
			tusError(w, http.StatusGone, "upload is "+stateWord(rec.State))
			return
		}
		if !acceptsBytes(rec.State) {
			writeAllReceived(w, rec.Size)
			return
		}
		// tusd answers under the upload's lock, so a HEAD after a broken
		// PATCH sees every byte that PATCH stored. The last PATCH may
		// complete the upload meanwhile and its files go: then the HEAD
		// says every byte arrived instead of 404.
		hw := &headWriter{header: http.Header{}}
		inner.ServeHTTP(hw, r)
		if hw.status == http.StatusNotFound {
			if now, err := s.db.get(r.Context(), id); err == nil && !acceptsBytes(now.State) && now.State != stateCanceled && now.State != stateExpired {
				writeAllReceived(w, rec.Size)
				return
			}
		}
		for k, v := range hw.header {
			w.Header()[k] = v
		}
		w.Header().Set("Upload-Expires", rec.ExpireTime.Format(http.TimeFormat))
		w.WriteHeader(hw.status)
	case http.MethodPatch:
		if gone {
			tusError(w, http.StatusGone, "upload is "+stateWord(rec.State))
			return
		}
		if !acceptsBytes(rec.State) {
			tusError(w, http.StatusForbidden, "upload is "+stateWord(rec.State)+": it accepts no more bytes")
			return
		}
		w.Header().Set("Upload-Expires", now.Add(s.cfg.Inactivity).Format(http.TimeFormat))
		r.Body = s.metrics.countBody(r.Body)
		inner.ServeHTTP(&extWriter{ResponseWriter: w}, r)
		s.afterPatch(r.Context(), id)
	case http.MethodDelete:
		if _, err := s.cancel(r.Context(), caller.Address, id); err != nil {
			var de *rpcerr.Error
			if errors.As(err, &de) && de.Code() == connect.CodeFailedPrecondition {
				tusError(w, http.StatusForbidden, de.Message())
				return
			}
			s.logger.ErrorContext(r.Context(), "upload: tus delete", "upload_id", id, "err", err)
			tusError(w, http.StatusInternalServerError, "internal error")
			return
		}
		w.Header().Set("Tus-Resumable", "1.0.0")
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "HEAD, PATCH, DELETE, OPTIONS")
		tusError(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

// afterPatch records the offset the tus store now holds, also after a
// PATCH whose connection broke (tusd keeps the bytes it received).
func (s *Service) afterPatch(reqCtx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(reqCtx), 10*time.Second)
	defer cancel()
	off, err := s.tusOffset(ctx, id)
	if err != nil {
		if !errors.Is(err, tusd.ErrNotFound) {
			s.logger.WarnContext(ctx, "upload: read tus offset", "upload_id", id, "err", err)
		}
		return
	}
	now := s.cfg.Now()
	if err := s.db.progress(ctx, id, off, now, now.Add(s.cfg.Inactivity)); err != nil {
		s.logger.WarnContext(ctx, "upload: record progress", "upload_id", id, "err", err)
	}
}

func stateWord(st uploadv1.UploadState) string {
	return strings.TrimPrefix(st.String(), "UPLOAD_STATE_")
}

// extWriter adds "expiration" to the extensions tusd advertises: the
// service expires unfinished uploads and reports Upload-Expires.
type extWriter struct {
	http.ResponseWriter
	wrote bool
}

func (e *extWriter) WriteHeader(code int) {
	if !e.wrote {
		e.wrote = true
		h := e.ResponseWriter.Header()
		if ext := h.Get("Tus-Extension"); ext != "" && !strings.Contains(ext, "expiration") {
			h.Set("Tus-Extension", ext+",expiration")
		}
	}
	e.ResponseWriter.WriteHeader(code)
}

func (e *extWriter) Write(p []byte) (int, error) {
	if !e.wrote {
		e.WriteHeader(http.StatusOK)
	}
	return e.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (tusd sets
// read deadlines through it).
func (e *extWriter) Unwrap() http.ResponseWriter { return e.ResponseWriter }

// writeAllReceived answers HEAD for an upload whose every byte arrived
// (its tus files may be gone already).
func writeAllReceived(w http.ResponseWriter, size uint64) {
	h := w.Header()
	h.Set("Tus-Resumable", "1.0.0")
	h.Set("Cache-Control", "no-store")
	h.Set("Upload-Offset", strconv.FormatUint(size, 10))
	h.Set("Upload-Length", strconv.FormatUint(size, 10))
	w.WriteHeader(http.StatusOK)
}

// headWriter holds tusd's answer to a HEAD (which has no body) until the
// service has looked at it.
type headWriter struct {
	header http.Header
	status int
}

func (h *headWriter) Header() http.Header { return h.header }

// SetReadDeadline and SetWriteDeadline accept tusd's network deadlines
// (http.ResponseController): the answer is held in memory, so there is no
// connection to bound, and without them tusd warns on every HEAD.
func (h *headWriter) SetReadDeadline(time.Time) error  { return nil }
func (h *headWriter) SetWriteDeadline(time.Time) error { return nil }

func (h *headWriter) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}

func (h *headWriter) Write(p []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return len(p), nil
}
