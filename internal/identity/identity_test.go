package identity

import (
	"net/http"
	"testing"

	"connectrpc.com/connect"
)

func TestFromHeaders(t *testing.T) {
	const checksummed = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	tests := []struct {
		name    string
		headers map[string]string
		dev     bool
		want    Caller
		wantErr bool
	}{
		{name: "anonymous", want: Caller{}},
		{name: "gateway-verified", headers: map[string]string{AddressHeader: checksummed, SessionHeader: "s1"}, want: Caller{Address: checksummed, SessionID: "s1"}},
		{name: "lowercase normalized", headers: map[string]string{AddressHeader: "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"}, want: Caller{Address: checksummed}},
		{name: "bad checksum", headers: map[string]string{AddressHeader: "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}, wantErr: true},
		{name: "not hex", headers: map[string]string{AddressHeader: "0xzz"}, wantErr: true},
		{name: "no 0x", headers: map[string]string{AddressHeader: "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"}, wantErr: true},
		{name: "dev header in dev mode", headers: map[string]string{DevAddressHeader: checksummed}, dev: true, want: Caller{Address: checksummed}},
		{name: "dev header refused outside dev mode", headers: map[string]string{DevAddressHeader: checksummed}, wantErr: true},
		{name: "verified address wins over dev header", headers: map[string]string{AddressHeader: checksummed, DevAddressHeader: "0x0000000000000000000000000000000000000001"}, dev: true, want: Caller{Address: checksummed}},
		{name: "operator", headers: map[string]string{OperatorHeader: "true"}, want: Caller{Operator: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			got, err := FromHeaders(h, tt.dev)
			if tt.wantErr {
				if connect.CodeOf(err) != connect.CodeUnauthenticated {
					t.Fatalf("err = %v, want Unauthenticated", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("caller = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRequire(t *testing.T) {
	if _, err := Require(t.Context()); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("Require(anonymous) = %v, want Unauthenticated", err)
	}
	c, err := Require(WithCaller(t.Context(), Caller{Address: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}))
	if err != nil || c.Address == "" {
		t.Errorf("Require(signed in) = %+v, %v", c, err)
	}
}
