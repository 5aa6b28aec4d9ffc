package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/upload/v1/uploadv1connect"
	"github.com/streamgate/streamgate/internal/identity"
)

// defaultDevAddress is the wallet `streamgate upload` names in dev mode
// when --dev-address is not given.
const defaultDevAddress = "0xd0d0000000000000000000000000000000000001"

// uploadChunkBytes is the size of one tus PATCH: the upload service's S3
// part size (services/upload: tusS3PartSize), so that on an S3 media store
// every PATCH becomes one part. A PATCH under S3's 5 MiB minimum part size
// is kept as an incomplete part object, read back and rewritten by the next
// PATCH: 4 MiB PATCHes ran at half the throughput of a plain multipart
// upload (node: BenchmarkTusUploadS3VsMultipartPUT, docs/BENCHMARKS.md).
const uploadChunkBytes = 16 << 20

type uploadOptions struct {
	file        string
	title       string
	description string
	tags        []string
	json        bool
	gateway     string
	devAddress  string
	watch       bool
	// policy, when set, is the video's access policy (unset: public).
	policy *authv1.AccessPolicy
	// packaging, when set, is chosen before the first byte is sent (the
	// transcoder reads it when the upload completes).
	packaging packagingFlag
	// auth, when set, authorizes every request instead of the stored
	// session or the dev header (the dev seed signs in on its own).
	auth func(context.Context, http.Header) error
	// stateDir, when set, keeps the resume state there instead of the
	// user's cache directory.
	stateDir string
}

// runUpload is `streamgate upload FILE [--title T] [--description D]
// [--tags a,b] [--policy SPEC... [--any|--all] | --policy-file F] [--json]
// [--watch] [--server URL] [--dev-address 0x...]`: it creates an upload,
// sends the file over tus with a progress line on stderr, and resumes from
// the server's offset when run again after an interruption.
func runUpload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("upload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: streamgate upload FILE [--title T] [--description D] [--tags a,b,c]\n         [--policy SPEC... [--any|--all] | --policy-file FILE.json] [--packaging auto|clear|encrypted]\n         [--json] [--watch] [--server URL] [--dev-address 0x...]")
		fmt.Fprintln(stderr, "\nUploads a video as the signed-in wallet (streamgate login); run it again after\nan interruption to resume. With --watch, then follows its transcode job as\nstreamgate watch does. Without a policy the video is public; with --policy\n(repeatable) only viewers holding the tokens may watch:\n  "+erc721Syntax+"\n  "+erc1155Syntax+"\n  "+erc20Syntax+"\n\nflags:")
		fs.PrintDefaults()
	}
	var o uploadOptions
	var c clientFlags
	c.register(fs, `print {"upload_id","video_id"} (with --watch also "job_id", "state") as JSON on the last line of output`)
	fs.StringVar(&o.title, "title", "", "title of the video (default: the file name without extension)")
	fs.StringVar(&o.description, "description", "", "description of the video, at most 5000 characters")
	tags := fs.String("tags", "", "tags, comma-separated: at most 20, each 1 to 32 of [a-z0-9-]")
	var pf policyFlags
	pf.register(fs, false)
	fs.Var(&o.packaging, "packaging", packagingUsage)
	fs.BoolVar(&o.watch, "watch", false, "after the upload, follow the video's transcode job until it ends; exit non-zero if it FAILED or was CANCELED")
	fs.StringVar(&o.devAddress, "dev-address", defaultDevAddress,
		"without a stored session for --server: wallet to upload as, sent in the "+identity.DevAddressHeader+" header, which only streamgate dev accepts")
	positional, err := parseInterleaved(fs, args)
	if err != nil {
		return errUsage
	}
	if len(positional) != 1 {
		fs.Usage()
		return errUsage
	}
	o.file = positional[0]
	if o.gateway, err = c.base(); err != nil {
		fmt.Fprintf(stderr, "streamgate upload: %v\n", err)
		return errUsage
	}
	o.json = c.json
	if _, err := identity.NormalizeAddress(o.devAddress); err != nil {
		return fmt.Errorf("--dev-address: %w", err)
	}
	if o.tags, err = splitList(*tags); err != nil {
		fmt.Fprintf(stderr, "streamgate upload: --tags: %v\n", err)
		return errUsage
	}
	// Before any byte is sent: a typo in a policy must not cost an upload.
	o.policy, err = pf.build(ctx, serverChains(o.gateway))
	var bad badInput
	if errors.As(err, &bad) {
		fmt.Fprintf(stderr, "streamgate upload: %v\n", err)
		return errUsage
	}
	if err != nil {
		return c.result(stdout, err)
	}
	return c.result(stdout, uploadAndReport(ctx, o, stdout, stderr))
}

func uploadAndReport(ctx context.Context, o uploadOptions, stdout, stderr io.Writer) error {
	res, err := uploadFile(ctx, o, stderr)
	if err != nil {
		return err
	}
	if o.watch {
		return watchUploaded(ctx, o, res, stdout, stderr)
	}
	if o.json {
		b, _ := json.Marshal(map[string]string{"upload_id": res.GetId(), "video_id": res.GetVideoId()})
		_, err = fmt.Fprintln(stdout, string(b))
		return err
	}
	_, err = fmt.Fprintf(stdout, "uploaded %s\nupload: %s\nvideo:  %s\nsha256: %s\n", o.file, res.GetId(), res.GetVideoId(), res.GetSha256())
	return err
}

// authorize adds the caller's credentials to a request.
func authorize(h http.Header, o uploadOptions) {
	if o.auth != nil {
		// Exclusive: never fall back to the user's own session.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = o.auth(ctx, h) // without credentials the server answers Unauthenticated
		return
	}
	// A session saved by `streamgate login` for this gateway wins; without
	// one, the dev identity header stands in (only `streamgate dev`
	// accepts it).
	if s, err := loadSession(); err == nil && strings.TrimSuffix(s.Gateway, "/") == strings.TrimSuffix(o.gateway, "/") {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := authorizeSession(ctx, h); err == nil {
			return
		}
	}
	h.Set(identity.DevAddressHeader, o.devAddress)
}

// uploadState is what a resumed run needs, kept in the user's cache dir.
type uploadState struct {
	Path      string `json:"path"`
	Size      int64  `json:"size"`
	ModTime   int64  `json:"mtime_unix_nano"`
	Gateway   string `json:"gateway"`
	RequestID string `json:"request_id"`
	UploadID  string `json:"upload_id,omitempty"`
	VideoID   string `json:"video_id,omitempty"`
	TusURL    string `json:"tus_url,omitempty"`
}

func statePath(abs, stateDir string) (string, error) {
	h := sha256.Sum256([]byte(abs))
	if stateDir != "" {
		return filepath.Join(stateDir, hex.EncodeToString(h[:])+".json"), nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "streamgate", "uploads", hex.EncodeToString(h[:])+".json"), nil
}

func loadState(path string) *uploadState {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var st uploadState
	if json.Unmarshal(b, &st) != nil {
		return nil
	}
	return &st
}

func saveState(path string, st *uploadState) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func uploadFile(ctx context.Context, o uploadOptions, stderr io.Writer) (*uploadv1.Upload, error) {
	abs, err := filepath.Abs(o.file)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", o.file)
	}
	if fi.Size() == 0 {
		return nil, fmt.Errorf("%s is empty", o.file)
	}
	sp, err := statePath(abs, o.stateDir)
	if err != nil {
		return nil, fmt.Errorf("no cache directory for the resume state: %w", err)
	}
	httpClient := &http.Client{}
	authorized := connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			authorize(req.Header(), o)
			return next(ctx, req)
		}
	}))
	client := uploadv1connect.NewUploadServiceClient(httpClient, o.gateway, authorized)
	tc := &tusClient{http: httpClient, opts: o}

	st := loadState(sp)
	offset := int64(-1)
	if st != nil && st.Path == abs && st.Size == fi.Size() && st.ModTime == fi.ModTime().UnixNano() && st.Gateway == o.gateway && st.TusURL != "" {
		off, err := tc.head(ctx, st.TusURL)
		switch {
		case err == nil:
			offset = off
			fmt.Fprintf(stderr, "resuming upload %s at %s of %s\n", st.UploadID, humanBytes(off), humanBytes(fi.Size()))
		case errors.Is(err, errUploadGone):
			st = nil // expired, canceled or unknown: start over
		default:
			return nil, err
		}
	} else if st != nil && (st.Path != abs || st.Size != fi.Size() || st.ModTime != fi.ModTime().UnixNano() || st.Gateway != o.gateway) {
		st = nil // the file changed: a new upload
	}
	if offset < 0 {
		if st == nil {
			st = &uploadState{Path: abs, Size: fi.Size(), ModTime: fi.ModTime().UnixNano(), Gateway: o.gateway, RequestID: newRequestID()}
			// Saved first, so a run killed during CreateUpload retries
			// with the same request_id and gets the same upload.
			if err := saveState(sp, st); err != nil {
				return nil, err
			}
		}
		title := o.title
		if title == "" {
			title = strings.TrimSuffix(filepath.Base(abs), filepath.Ext(abs))
		}
		ct := mime.TypeByExtension(strings.ToLower(filepath.Ext(abs)))
		if !strings.HasPrefix(ct, "video/") {
			ct = "video/mp4" // only a hint: the server probes the file
		}
		res, err := client.CreateUpload(ctx, connect.NewRequest(&uploadv1.CreateUploadRequest{
			RequestId: st.RequestID, Title: title, Description: o.description, Tags: o.tags,
			SizeBytes: uint64(fi.Size()), ContentType: ct, Filename: filepath.Base(abs), AccessPolicy: o.policy,
		}))
		if err != nil {
			return nil, fmt.Errorf("create upload: %w", err)
		}
		up := res.Msg.GetUpload()
		st.UploadID, st.VideoID, st.TusURL = up.GetId(), up.GetVideoId(), up.GetTusUrl()
		if err := saveState(sp, st); err != nil {
			return nil, err
		}
		offset = int64(up.GetOffsetBytes())
		if up.GetState() == uploadv1.UploadState_UPLOAD_STATE_CREATED || up.GetState() == uploadv1.UploadState_UPLOAD_STATE_UPLOADING {
			if off, err := tc.head(ctx, st.TusURL); err == nil {
				offset = off
			}
		}
	}

	if o.packaging.set && offset < fi.Size() {
		// Settable while the video is uploading: before its last byte.
		change := &metadatav1.Video{Packaging: o.packaging.value}
		if _, err := updateVideo(ctx, metadatav1connect.NewMetadataServiceClient(httpClient, o.gateway, authorized), st.VideoID, "", change, []string{"packaging"}); err != nil {
			return nil, fmt.Errorf("--packaging %s: %w", o.packaging.String(), err)
		}
	}

	bar := newProgress(stderr, fi.Size(), offset)
	err = tc.send(ctx, st.TusURL, f, offset, fi.Size(), bar)
	bar.finish()
	if err != nil {
		return nil, fmt.Errorf("%w (run the same command again to resume)", err)
	}
	up, err := waitValidated(ctx, client, st.UploadID, stderr)
	if err != nil {
		return nil, err
	}
	_ = os.Remove(sp)
	if up.GetState() != uploadv1.UploadState_UPLOAD_STATE_COMPLETED {
		return nil, fmt.Errorf("upload %s %s: %s", up.GetId(), strings.ToLower(strings.TrimPrefix(up.GetState().String(), "UPLOAD_STATE_")), up.GetFailureReason())
	}
	return up, nil
}

// waitValidated polls the upload until validation has finished.
func waitValidated(ctx context.Context, client uploadv1connect.UploadServiceClient, id string, stderr io.Writer) (*uploadv1.Upload, error) {
	said := false
	for delay := 100 * time.Millisecond; ; delay = min(delay*2, 2*time.Second) {
		res, err := client.GetUpload(ctx, connect.NewRequest(&uploadv1.GetUploadRequest{UploadId: id}))
		if err != nil {
			return nil, fmt.Errorf("get upload: %w", err)
		}
		up := res.Msg.GetUpload()
		if up.GetState() != uploadv1.UploadState_UPLOAD_STATE_VALIDATING && up.GetState() != uploadv1.UploadState_UPLOAD_STATE_UPLOADING {
			return up, nil
		}
		if !said {
			fmt.Fprintln(stderr, "validating...")
			said = true
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "cli-" + hex.EncodeToString(b[:])
}

var errUploadGone = errors.New("upload no longer exists on the server")

// tusClient speaks the tus 1.0 core protocol to an existing upload.
type tusClient struct {
	http *http.Client
	opts uploadOptions
}

func (c *tusClient) request(ctx context.Context, method, url string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	authorize(req.Header, c.opts)
	return req, nil
}

// head returns the server's offset.
func (c *tusClient) head(ctx context.Context, url string) (int64, error) {
	req, err := c.request(ctx, http.MethodHead, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("HEAD %s: %w", url, err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusNoContent:
	case http.StatusNotFound, http.StatusGone, http.StatusForbidden:
		return 0, errUploadGone
	default:
		return 0, fmt.Errorf("HEAD %s: %s", url, resp.Status)
	}
	off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || off < 0 {
		return 0, fmt.Errorf("HEAD %s: bad Upload-Offset %q", url, resp.Header.Get("Upload-Offset"))
	}
	return off, nil
}

// send PATCHes the file from offset to size in chunks. After a network
// error or an offset conflict it asks HEAD for the server's offset and
// goes on from there, a few times, before giving up.
func (c *tusClient) send(ctx context.Context, url string, f *os.File, offset, size int64, bar *progress) error {
	failures := 0
	for offset < size {
		n := min(int64(uploadChunkBytes), size-offset)
		next, err := c.patch(ctx, url, io.NewSectionReader(f, offset, n), offset, n, bar)
		if err == nil {
			offset = next
			failures = 0
			bar.set(offset)
			continue
		}
		if ctx.Err() != nil || errors.Is(err, errUploadGone) {
			return err
		}
		failures++
		if failures > 5 {
			return err
		}
		delay := time.Duration(failures) * 500 * time.Millisecond
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		off, herr := c.head(ctx, url)
		if herr != nil {
			return errors.Join(err, herr)
		}
		offset = off
		bar.set(offset)
	}
	return nil
}

func (c *tusClient) patch(ctx context.Context, url string, body io.Reader, offset, n int64, bar *progress) (int64, error) {
	req, err := c.request(ctx, http.MethodPatch, url, &countingReader{r: body, bar: bar, base: offset})
	if err != nil {
		return 0, err
	}
	req.ContentLength = n
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("PATCH at %d: %w", offset, err)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent, http.StatusOK:
	case http.StatusGone, http.StatusNotFound:
		return 0, fmt.Errorf("%w: %s", errUploadGone, strings.TrimSpace(string(msg)))
	default:
		return 0, fmt.Errorf("PATCH at %d: %s: %s", offset, resp.Status, strings.TrimSpace(string(msg)))
	}
	next, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || next < offset {
		return 0, fmt.Errorf("PATCH at %d: bad Upload-Offset %q", offset, resp.Header.Get("Upload-Offset"))
	}
	return next, nil
}

// countingReader reports bytes as they are sent.
type countingReader struct {
	r    io.Reader
	bar  *progress
	base int64
	n    int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	c.bar.set(c.base + c.n)
	return k, err
}

// progress draws "\r  12.0 MiB / 40.0 MiB  30%  5.2 MiB/s  ETA 6s" on a
// terminal line, at most five times a second.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	total    int64
	startOff int64
	start    time.Time
	cur      int64
	lastDraw time.Time
}

func newProgress(w io.Writer, total, offset int64) *progress {
	return &progress{w: w, total: total, startOff: offset, cur: offset, start: time.Now()}
}

func (p *progress) set(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur = n
	if now := time.Now(); now.Sub(p.lastDraw) >= 200*time.Millisecond {
		p.lastDraw = now
		p.draw(now)
	}
}

func (p *progress) draw(now time.Time) {
	elapsed := now.Sub(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(p.cur-p.startOff) / elapsed
	}
	pct := 100 * float64(p.cur) / float64(max(p.total, 1))
	eta := "--"
	if rate > 0 {
		eta = (time.Duration(float64(p.total-p.cur)/rate) * time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r  %s / %s  %5.1f%%  %s/s  ETA %s   ", humanBytes(p.cur), humanBytes(p.total), pct, humanBytes(int64(rate)), eta)
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(time.Now())
	fmt.Fprintln(p.w)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// watchUploaded is the --watch tail of `streamgate upload`: it finds the
// transcode job queued for the uploaded video and follows it.
func watchUploaded(ctx context.Context, o uploadOptions, up *uploadv1.Upload, stdout, stderr io.Writer) error {
	if !o.json {
		if _, err := fmt.Fprintf(stdout, "uploaded %s\nupload: %s\nvideo:  %s\nsha256: %s\n", o.file, up.GetId(), up.GetVideoId(), up.GetSha256()); err != nil {
			return err
		}
	}
	client := newTranscoderClient(o)
	job, err := findJob(ctx, client, up.GetVideoId(), jobAppearTimeout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "transcode job: %s\n", job.GetId())
	job, err = newWatcher(client, stderr).watch(ctx, job.GetId())
	if err != nil {
		return err
	}
	if !o.json {
		return reportTerminal(stdout, job)
	}
	out := map[string]string{"upload_id": up.GetId(), "video_id": up.GetVideoId(), "job_id": job.GetId(), "state": stateName(job.GetState())}
	if r := job.GetFailureReason(); r != "" {
		out["failure_reason"] = r
	}
	b, _ := json.Marshal(out)
	if _, err := fmt.Fprintln(stdout, string(b)); err != nil {
		return err
	}
	if err := reportTerminal(io.Discard, job); err != nil {
		return reported{err} // the JSON line above says how it ended
	}
	return nil
}
