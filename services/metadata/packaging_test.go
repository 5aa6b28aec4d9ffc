package metadata

import (
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
)

// Packaging is set at creation and changes only while the video uploads;
// an unknown value is refused; encrypted follows transcode.completed.
func TestPackaging(t *testing.T) {
	e := newEnv(t)
	v := e.create(t, alice, "enc", func(m *metadatav1.CreateVideoRequest) { m.Packaging = metadatav1.Packaging_PACKAGING_ENCRYPTED })
	if v.GetPackaging() != metadatav1.Packaging_PACKAGING_ENCRYPTED || v.GetEncrypted() {
		t.Fatalf("created: packaging %v encrypted %v", v.GetPackaging(), v.GetEncrypted())
	}
	_, err := e.client.CreateVideo(t.Context(), req("", &metadatav1.CreateVideoRequest{RequestId: "req-bad-pack", CreatorAddress: alice,
		Title: "bad", UploadId: "upl_test", Packaging: 7}))
	wantCode(t, err, connect.CodeInvalidArgument)

	update := func(etag string, p metadatav1.Packaging) (*metadatav1.Video, error) {
		res, err := e.client.UpdateVideo(t.Context(), req(alice, &metadatav1.UpdateVideoRequest{
			Video:      &metadatav1.Video{Id: v.GetId(), Etag: etag, Packaging: p},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"packaging"}},
		}))
		if err != nil {
			return nil, err
		}
		return res.Msg.GetVideo(), nil
	}
	got, err := update(v.GetEtag(), metadatav1.Packaging_PACKAGING_CLEAR)
	if err != nil || got.GetPackaging() != metadatav1.Packaging_PACKAGING_CLEAR {
		t.Fatalf("update while uploading: %v %v", got, err)
	}
	e.makeReady(t, v.GetId())
	after, err := e.client.GetVideo(t.Context(), req(alice, &metadatav1.GetVideoRequest{VideoId: v.GetId()}))
	if err != nil {
		t.Fatal(err)
	}
	etag := after.Msg.GetVideo().GetEtag()
	_, err = update(etag, metadatav1.Packaging_PACKAGING_ENCRYPTED)
	wantCode(t, err, connect.CodeFailedPrecondition)
	// Naming it unchanged in a mask is no change, and allowed.
	if _, err := update(etag, metadatav1.Packaging_PACKAGING_CLEAR); err != nil {
		t.Errorf("unchanged packaging after the encode: %v", err)
	}

	enc := e.create(t, alice, "encrypted one")
	ev := transcodeCompleted(enc.GetId())
	ev.EncryptionScheme = "cbcs"
	if err := e.svc.onTranscodeCompleted(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	res, err := e.client.GetVideo(t.Context(), req("", &metadatav1.GetVideoRequest{VideoId: enc.GetId()}))
	if err != nil || !res.Msg.GetVideo().GetEncrypted() {
		t.Errorf("after an encrypted transcode: %v %v", res.Msg.GetVideo(), err)
	}
	if after.Msg.GetVideo().GetEncrypted() {
		t.Error("a clear transcode marked the video encrypted")
	}
}
