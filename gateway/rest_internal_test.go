package gateway

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestConnectErrorJSON(t *testing.T) {
	detail, _ := proto.Marshal(wrapperspb.String("why"))
	tests := []struct {
		name       string
		body       string
		status     int
		wantStatus int
		want       connectErrorBody
	}{
		{"status with a detail",
			`{"code":9,"message":"not yet","details":[{"@type":"type.googleapis.com/google.protobuf.StringValue","value":"why"}]}`, 400,
			http.StatusPreconditionFailed,
			connectErrorBody{Code: "failed_precondition", Message: "not yet", Details: []connectErrorDetail{{Type: "google.protobuf.StringValue", Value: base64.RawStdEncoding.EncodeToString(detail)}}}},
		{"unknown detail type is dropped",
			`{"code":5,"message":"gone","details":[{"@type":"type.googleapis.com/no.Such","x":1}]}`, 404,
			http.StatusNotFound, connectErrorBody{Code: "not_found", Message: "gone"}},
		{"not a status", `oops`, 405, 405, connectErrorBody{Code: "not_found", Message: "oops"}},
		{"code out of range", `{"code":99,"message":"m"}`, 502, 502, connectErrorBody{Code: "unavailable", Message: "m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, status := connectErrorJSON([]byte(tt.body), tt.status)
			var got connectErrorBody
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(tt.want)
			if g, _ := json.Marshal(got); string(g) != string(want) || status != tt.wantStatus {
				t.Errorf("got %s %d, want %s %d", g, status, want, tt.wantStatus)
			}
		})
	}
}
