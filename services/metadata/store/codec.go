package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
)

// The helpers below encode the nested values of a Video for a text column,
// the same way on every engine: protojson, so a row stays readable with
// sqlite3 or psql.

// JoinTags renders tags for the tags column: tags are [a-z0-9-], so a
// space separates them unambiguously, and full-text indexes read the
// column as words.
func JoinTags(tags []string) string { return strings.Join(tags, " ") }

// JoinOrigins renders allowed origins for their column: a normalised
// origin holds no space, so a space separates them; none is "".
func JoinOrigins(origins []string) string { return strings.Join(origins, " ") }

// SplitTags is the inverse of JoinTags.
func SplitTags(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

// MarshalRenditions encodes renditions as a JSON array.
func MarshalRenditions(rs []*metadatav1.Rendition) (string, error) {
	parts := make([]json.RawMessage, 0, len(rs))
	for _, r := range rs {
		b, err := protojson.Marshal(r)
		if err != nil {
			return "", fmt.Errorf("encode rendition: %w", err)
		}
		parts = append(parts, b)
	}
	b, err := json.Marshal(parts)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// UnmarshalRenditions decodes what MarshalRenditions wrote.
func UnmarshalRenditions(s string) ([]*metadatav1.Rendition, error) {
	if s == "" {
		return nil, nil
	}
	var parts []json.RawMessage
	if err := json.Unmarshal([]byte(s), &parts); err != nil {
		return nil, fmt.Errorf("decode renditions: %w", err)
	}
	if len(parts) == 0 {
		return nil, nil
	}
	out := make([]*metadatav1.Rendition, 0, len(parts))
	for _, p := range parts {
		r := new(metadatav1.Rendition)
		if err := protojson.Unmarshal(p, r); err != nil {
			return nil, fmt.Errorf("decode rendition: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// MarshalPolicy encodes a policy; nil (public) is the empty string.
func MarshalPolicy(p *authv1.AccessPolicy) (string, error) {
	if p == nil {
		return "", nil
	}
	b, err := protojson.Marshal(p)
	return string(b), err
}

// UnmarshalPolicy decodes what MarshalPolicy wrote.
func UnmarshalPolicy(s string) (*authv1.AccessPolicy, error) {
	if s == "" {
		return nil, nil
	}
	p := new(authv1.AccessPolicy)
	if err := protojson.Unmarshal([]byte(s), p); err != nil {
		return nil, fmt.Errorf("decode access policy: %w", err)
	}
	return p, nil
}

// MarshalMediaInfo encodes media info; nil is the empty string.
func MarshalMediaInfo(m *metadatav1.MediaInfo) (string, error) {
	if m == nil {
		return "", nil
	}
	b, err := protojson.Marshal(m)
	return string(b), err
}

// UnmarshalMediaInfo decodes what MarshalMediaInfo wrote.
func UnmarshalMediaInfo(s string) (*metadatav1.MediaInfo, error) {
	if s == "" {
		return nil, nil
	}
	m := new(metadatav1.MediaInfo)
	if err := protojson.Unmarshal([]byte(s), m); err != nil {
		return nil, fmt.Errorf("decode media info: %w", err)
	}
	return m, nil
}

// Encoded holds a Video's nested values encoded for text columns.
type Encoded struct {
	Tags, Renditions, Policy, MediaInfo, AllowedOrigins string
}

// Encode encodes v's nested values.
func Encode(v *Video) (Encoded, error) {
	var e Encoded
	var err error
	e.Tags = JoinTags(v.Tags)
	e.AllowedOrigins = JoinOrigins(v.AllowedOrigins)
	if e.Renditions, err = MarshalRenditions(v.Renditions); err != nil {
		return e, err
	}
	if e.Policy, err = MarshalPolicy(v.Policy); err != nil {
		return e, err
	}
	if e.MediaInfo, err = MarshalMediaInfo(v.MediaInfo); err != nil {
		return e, err
	}
	return e, nil
}

// Decode sets v's nested values from e.
func (e Encoded) Decode(v *Video) error {
	var err error
	v.Tags = SplitTags(e.Tags)
	v.AllowedOrigins = SplitTags(e.AllowedOrigins)
	if v.Renditions, err = UnmarshalRenditions(e.Renditions); err != nil {
		return err
	}
	if v.Policy, err = UnmarshalPolicy(e.Policy); err != nil {
		return err
	}
	if v.MediaInfo, err = UnmarshalMediaInfo(e.MediaInfo); err != nil {
		return err
	}
	return nil
}

// MediaDeletion is a queued removal of a deleted video's media: the outbox
// the worker service drains (it deletes the blobs, then marks the row done).
type MediaDeletion struct {
	VideoID     string
	RequestTime time.Time
}
