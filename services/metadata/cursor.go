package metadata

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/streamgate/streamgate/services/metadata/store"
)

// Page tokens are opaque to clients: base64url of a small JSON object. Each
// carries a fingerprint of the filters it was issued for, so a token used
// with other filters is refused (INVALID_ARGUMENT) instead of silently
// paging a different list.
//
// ListVideos tokens are keyset cursors: the (create_time, id) of the last
// video returned. Rows inserted or changed meanwhile never shift a page.
//
// SearchVideos tokens are offsets: ranks are floats that differ between
// engines and change as rows change, so a keyset on them is brittle. An
// offset costs the skipped rows on each page, so search pages stop at
// maxSearchResults results: no next_page_token is returned beyond it.

const maxTokenLen = 512

// maxSearchResults bounds how deep search pages go.
const maxSearchResults = 1000

type listToken struct {
	T int64  `json:"t"` // create time, Unix microseconds
	I string `json:"i"` // video id
	F string `json:"f"` // filter fingerprint
}

type searchToken struct {
	O int    `json:"o"` // offset
	F string `json:"f"` // query fingerprint
}

func fingerprint(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:9])
}

func listFingerprint(q store.ListQuery) string {
	sts := make([]string, len(q.Statuses))
	for i, s := range q.Statuses {
		sts[i] = strconv.Itoa(int(s))
	}
	gated := "any"
	if q.Gated != nil {
		gated = strconv.FormatBool(*q.Gated)
	}
	return fingerprint("list", q.Creator, strings.Join(sts, ","), q.Tag, gated)
}

func encodeToken(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s string, v any) error {
	if len(s) > maxTokenLen {
		return invalidf("page_token is not one this service issued")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return invalidf("page_token is not one this service issued")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return invalidf("page_token is not one this service issued")
	}
	return nil
}

func encodeListToken(q store.ListQuery, last *store.Video) string {
	return encodeToken(listToken{T: last.CreateTime.UnixMicro(), I: last.ID, F: listFingerprint(q)})
}

func decodeListToken(s string, q store.ListQuery) (*store.Cursor, error) {
	var tok listToken
	if err := decodeToken(s, &tok); err != nil {
		return nil, err
	}
	if tok.F != listFingerprint(q) {
		return nil, invalidf("page_token was issued for other filters: send the same filters as the first page")
	}
	if checkVideoID(tok.I) != nil {
		return nil, invalidf("page_token is not one this service issued")
	}
	return &store.Cursor{CreateTime: time.UnixMicro(tok.T).UTC(), ID: tok.I}, nil
}

func searchFingerprint(words []string) string {
	return fingerprint(append([]string{"search"}, words...)...)
}

func decodeSearchToken(s string, words []string) (int, error) {
	var tok searchToken
	if err := decodeToken(s, &tok); err != nil {
		return 0, err
	}
	if tok.F != searchFingerprint(words) {
		return 0, invalidf("page_token was issued for another query: send the same query as the first page")
	}
	if tok.O <= 0 || tok.O >= maxSearchResults {
		return 0, invalidf("page_token is not one this service issued")
	}
	return tok.O, nil
}

func encodeSearchToken(words []string, offset int) string {
	return encodeToken(searchToken{O: offset, F: searchFingerprint(words)})
}
