package transcoder

import (
	"strconv"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	transcoderv1 "github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1"
	"github.com/streamgate/streamgate/internal/transcode"
)

func itoa(n int) string { return strconv.Itoa(n) }

func jobToProto(j *Job) *transcoderv1.TranscodeJob {
	p := &transcoderv1.TranscodeJob{
		Id: j.ID, VideoId: j.VideoID, UploadId: j.UploadID,
		State:            transcoderv1.TranscodeJobState(j.State),
		FailureReason:    j.FailureReason,
		ProgressPercent:  j.ProgressPercent,
		QueuePosition:    uint32(j.QueuePosition),
		Attempt:          uint32(j.Attempt),
		WorkerInstanceId: j.WorkerInstanceID,
		CreateTime:       timestamppb.New(j.CreateTime),
	}
	if j.State == StateRunning {
		p.Speed = j.Speed
	}
	if j.ETA > 0 && !j.State.Terminal() {
		p.Eta = durationpb.New(j.ETA)
	}
	if !j.StartTime.IsZero() {
		p.StartTime = timestamppb.New(j.StartTime)
	}
	if !j.FinishTime.IsZero() {
		p.FinishTime = timestamppb.New(j.FinishTime)
	}
	for _, r := range j.Renditions {
		st := r.State
		switch j.State {
		case StateCanceled:
			if st != RenditionSucceeded {
				st = RenditionCanceled
			}
		case StateQueued:
			st = RenditionPending
		}
		p.RenditionProgress = append(p.RenditionProgress, &transcoderv1.RenditionProgress{
			Name: r.Name, Width: uint32(r.Width), Height: uint32(r.Height), BandwidthBps: uint64(r.Bandwidth),
			ProgressPercent: r.Percent, SegmentsDone: uint32(r.SegmentsDone), SegmentsTotal: uint32(r.SegmentsTotal),
			State: transcoderv1.RenditionState(st),
		})
	}
	if src := j.Source; src != nil {
		mi := &metadatav1.MediaInfo{FormatName: src.FormatName, Duration: durationpb.New(src.Duration)}
		if v := src.Video; v != nil {
			mi.Video = &metadatav1.VideoStreamInfo{Codec: v.Codec, Width: uint32(v.Width), Height: uint32(v.Height),
				FrameRate: v.FrameRate, RotationDegrees: int32(v.Rotation)}
		}
		if a := src.Audio; a != nil {
			mi.Audio = &metadatav1.AudioStreamInfo{Codec: a.Codec, SampleRateHz: uint32(a.SampleRate), Channels: uint32(a.Channels)}
		}
		p.SourceMediaInfo = mi
	}
	if j.State == StateSucceeded && j.Result != nil {
		p.Renditions = renditionsToProto(j.Result.Renditions)
	}
	return p
}

func renditionsToProto(rs []transcode.Rendition) []*metadatav1.Rendition {
	var out []*metadatav1.Rendition
	for _, r := range rs {
		out = append(out, &metadatav1.Rendition{
			Name: r.Name, Width: uint32(r.Width), Height: uint32(r.Height), FrameRate: r.FrameRate,
			Codecs: r.Codecs, BandwidthBps: uint64(r.Bandwidth), AverageBandwidthBps: uint64(r.AverageBandwidth),
			SegmentCount: uint32(r.SegmentCount), SizeBytes: uint64(r.SizeBytes), PlaylistPath: r.PlaylistPath,
		})
	}
	return out
}

func ladderFromProto(rungs []*transcoderv1.LadderRung) []transcode.Rung {
	var out []transcode.Rung
	for _, r := range rungs {
		out = append(out, transcode.Rung{Name: r.GetName(), Height: int(r.GetHeight()),
			VideoBitrate: int(min(r.GetVideoBitrateBps(), 1<<40)), AudioBitrate: int(min(r.GetAudioBitrateBps(), 1<<40)),
			MaxFrameRate: r.GetMaxFrameRate()})
	}
	return out
}
