package streaming

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	streamingv1 "github.com/streamgate/streamgate/gen/go/streamgate/streaming/v1"
)

// ChunkSize is the most segment bytes one StreamSegments message carries.
const ChunkSize = 1 << 20

type playlistSeg struct {
	name string
	dur  time.Duration
}

// playlistInit is an init segment (EXT-X-MAP) of a media playlist.
type playlistInit struct {
	name string
	from int // the first media segment (from 1) it applies to
}

type playlist struct {
	// inits are in playlist order: an encrypted rendition with a preview
	// has the preview key's, then the full key's before the first segment
	// past the preview.
	inits []playlistInit
	segs  []playlistSeg
	ended bool
}

// initFor is the index in inits of the init segment media segment seq
// (from 1) is read with: the last one listed before it. -1 without any.
func (p *playlist) initFor(seq int) int {
	i := -1
	for j, in := range p.inits {
		if j == 0 || in.from <= seq {
			i = j
		}
	}
	return i
}

// parsePlaylist reads one of our media playlists.
func parsePlaylist(b []byte) playlist {
	var p playlist
	var dur time.Duration
	for line := range strings.Lines(string(b)) {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "#EXT-X-MAP:"):
			if m := hlsURIAttr.FindStringSubmatch(t); m != nil {
				p.inits = append(p.inits, playlistInit{name: m[1], from: len(p.segs) + 1})
			}
		case strings.HasPrefix(t, "#EXTINF:"):
			v, _, _ := strings.Cut(strings.TrimPrefix(t, "#EXTINF:"), ",")
			if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
				dur = time.Duration(f * float64(time.Second))
			}
		case t == "#EXT-X-ENDLIST":
			p.ended = true
		case t == "" || strings.HasPrefix(t, "#"):
		default:
			p.segs = append(p.segs, playlistSeg{name: t, dur: dur})
			dur = 0
		}
	}
	return p
}

// follower wakes a live stream when the transcoder reports progress on
// the video.
type follower struct {
	wake   chan struct{}
	failed chan struct{}
	stop   func()
}

func (s *Service) follow(ctx context.Context, videoID string) (*follower, error) {
	f := &follower{wake: make(chan struct{}, 1), failed: make(chan struct{}), stop: func() {}}
	if s.bus == nil {
		return f, nil
	}
	cons, err := s.bus.JetStream().OrderedConsumer(ctx, "MEDIA", jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"segment.ready", "transcode.completed", "transcode.failed"},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	})
	if err != nil {
		s.logger.WarnContext(ctx, "cannot follow transcode events; polling", "video_id", videoID, "err", err)
		return f, nil
	}
	var failedOnce bool
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var vid string
		switch m.Subject() {
		case "segment.ready":
			var e eventsv1.SegmentReady
			if proto.Unmarshal(m.Data(), &e) == nil {
				vid = e.GetVideoId()
			}
		case "transcode.completed":
			var e eventsv1.TranscodeCompleted
			if proto.Unmarshal(m.Data(), &e) == nil {
				vid = e.GetVideoId()
			}
		case "transcode.failed":
			var e eventsv1.TranscodeFailed
			if proto.Unmarshal(m.Data(), &e) == nil && e.GetVideoId() == videoID && !failedOnce {
				failedOnce = true
				close(f.failed)
			}
			return
		}
		if vid == videoID {
			select {
			case f.wake <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		s.logger.WarnContext(ctx, "cannot follow transcode events; polling", "video_id", videoID, "err", err)
		return f, nil
	}
	f.stop = cc.Stop
	return f, nil
}

// StreamSegments sends a rendition's media segments from req.FromSequence,
// each init segment before the first of them it applies to, following a
// live encode until the playlist ends. An init segment is sent first even
// when no media segment follows (resuming past the end): the one of the
// segment asked for, or of the last one the grant may have.
func (s *Service) StreamSegments(ctx context.Context, req *streamingv1.StreamSegmentsRequest, send func(*streamingv1.StreamSegmentsResponse) error) error {
	id, rend := req.GetVideoId(), req.GetRendition()
	if !renditionRe.MatchString(rend) {
		return errors.Join(errInvalid, errors.New("rendition: want [a-z0-9-]{1,32}"))
	}
	g, err := s.authorize(ctx, id, req.GetToken())
	if err != nil {
		return err
	}
	var f *follower
	if g.live() {
		if f, err = s.follow(ctx, id); err != nil {
			return err
		}
		defer f.stop()
	}
	prefix := s.videoPrefix(id)
	plKey := prefix + rend + "/playlist.m3u8"
	next := max(int(req.GetFromSequence()), 1)
	sentInit := -1 // index in the playlist's inits of the last one sent
	poll := time.NewTicker(s.cfg.PollInterval)
	defer poll.Stop()
	for {
		b, _, err := s.readManifest(ctx, plKey)
		var pl playlist
		switch {
		case err == nil:
			pl = parsePlaylist(b)
		case !errors.Is(err, errNotFound):
			return err
		case !g.live():
			return errNotFound
		default:
			// Live and not yet written: a rendition the master does not
			// plan is unknown.
			if m, _, merr := s.readManifest(ctx, prefix+"master.m3u8"); merr == nil {
				planned := false
				for _, p := range masterPlaylists(m) {
					planned = planned || p == rend+"/playlist.m3u8"
				}
				if !planned {
					return errNotFound
				}
			}
		}
		sendInit := func(i int) error {
			if err := s.stillValid(ctx, g); err != nil {
				return err
			}
			if err := s.sendSegment(ctx, send, prefix+rend+"/", pl.inits[i].name, rend, streamingv1.SegmentKind_SEGMENT_KIND_INIT, 0, 0); err != nil {
				return err
			}
			sentInit = i
			return nil
		}
		free := len(pl.segs)
		if err == nil && g.preview() > 0 {
			if free, err = freeSegments(g, b); err != nil {
				return err
			}
			if free < len(pl.segs) {
				// The preview's end is reached: the stream ends there.
				pl.segs, pl.ended = pl.segs[:free], true
			}
		}
		if err == nil && sentInit < 0 && len(pl.inits) > 0 {
			// After the preview cut, so that a preview grant resuming
			// past it gets the preview key's init, not the full key's.
			if err := sendInit(pl.initFor(min(next, max(len(pl.segs), 1)))); err != nil {
				return err
			}
		}
		if sentInit >= 0 {
			for ; next <= len(pl.segs); next++ {
				if i := pl.initFor(next); i != sentInit {
					if err := sendInit(i); err != nil {
						return err
					}
				}
				if err := s.stillValid(ctx, g); err != nil {
					return err
				}
				sg := pl.segs[next-1]
				if err := s.sendSegment(ctx, send, prefix+rend+"/", sg.name, rend, streamingv1.SegmentKind_SEGMENT_KIND_MEDIA, uint32(next), sg.dur); err != nil {
					return err
				}
			}
			if pl.ended {
				var total time.Duration
				for _, sg := range pl.segs {
					total += sg.dur
				}
				return send(&streamingv1.StreamSegmentsResponse{Item: &streamingv1.StreamSegmentsResponse_End{End: &streamingv1.StreamEnd{
					SegmentCount: uint32(len(pl.segs)), Duration: durationpb.New(total),
				}}})
			}
		}
		if !g.live() {
			if err == nil && len(pl.inits) == 0 {
				return fmt.Errorf("%w: playlist %s has no EXT-X-MAP", errUnavailable, plKey)
			}
			// A READY video whose playlist has no ENDLIST: nothing will
			// change it; treat as unavailable rather than hang.
			return fmt.Errorf("%w: playlist %s of a ready video is not final", errUnavailable, plKey)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-f.failed:
			return errVideoFailed
		case <-f.wake:
		case <-poll.C:
			v, err := s.video(ctx, id)
			if err != nil {
				return err
			}
			if v.GetStatus() == metadatav1.VideoStatus_VIDEO_STATUS_FAILED {
				return errVideoFailed
			}
		}
	}
}

// sendSegment sends one segment as chunks of at most ChunkSize bytes.
func (s *Service) sendSegment(ctx context.Context, send func(*streamingv1.StreamSegmentsResponse) error, dir, name, rend string, kind streamingv1.SegmentKind, seq uint32, dur time.Duration) error {
	if k, ok := parseAsset(rend + "/" + name); !ok || (k != assetInit && k != assetSegment) {
		return fmt.Errorf("%w: playlist names %q", errUnavailable, name)
	}
	key := dir + name
	info, err := s.blobs.Stat(ctx, key)
	if err != nil {
		return blobErrLive(err)
	}
	rc, err := s.blobs.Get(ctx, key)
	if err != nil {
		return blobErrLive(err)
	}
	defer rc.Close()
	size := uint64(info.Size)
	var d *durationpb.Duration
	if kind == streamingv1.SegmentKind_SEGMENT_KIND_MEDIA {
		d = durationpb.New(dur)
	}
	buf := make([]byte, min(ChunkSize, max(int(size), 1)))
	var off uint64
	for {
		n, rerr := io.ReadFull(rc, buf[:min(uint64(len(buf)), size-off)])
		if rerr != nil && n == 0 && size-off > 0 {
			return fmt.Errorf("%w: read %s: %v", errUnavailable, key, rerr)
		}
		last := off+uint64(n) >= size
		if err := send(&streamingv1.StreamSegmentsResponse{Item: &streamingv1.StreamSegmentsResponse_Chunk{Chunk: &streamingv1.SegmentChunk{
			Rendition: rend, Kind: kind, Sequence: seq, Duration: d, SizeBytes: size,
			Offset: off, Data: buf[:n], LastChunk: last,
		}}}); err != nil {
			return err
		}
		s.metrics.segmentBytes(ctx, n)
		off += uint64(n)
		if last {
			return nil
		}
	}
}

// blobErrLive: a segment a playlist lists must exist; its absence is a
// store problem, not the client's.
func blobErrLive(err error) error {
	return fmt.Errorf("%w: %v", errUnavailable, err)
}
