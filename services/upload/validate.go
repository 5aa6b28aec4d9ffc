package upload

import (
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"path"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
	"github.com/streamgate/streamgate/internal/policy"
)

var (
	requestIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	tagRe       = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)
	uploadIDRe  = regexp.MustCompile(`^upl_[0-9A-HJKMNP-TV-Z]{26}$`)
)

const (
	maxTitleChars       = 200
	maxDescriptionChars = 5000
	maxTags             = 20
	maxContentTypeChars = 127
	maxFilenameBytes    = 255
)

// createParams is a validated, normalized CreateUploadRequest.
type createParams struct {
	RequestID   string
	Title       string
	Description string
	Tags        []string
	Policy      *authv1.AccessPolicy
	Size        uint64
	ContentType string
	Filename    string
}

// hash identifies the parameters, so a request_id reused with different
// ones is told apart from a retry.
func (p *createParams) hash() string {
	h := sha256.New()
	w := func(s string) { h.Write([]byte(s)); h.Write([]byte{0}) }
	w(p.Title)
	w(p.Description)
	w(strings.Join(p.Tags, ","))
	if p.Policy != nil {
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(p.Policy)
		w(string(b))
	}
	w(big.NewInt(0).SetUint64(p.Size).String())
	w(p.ContentType)
	w(p.Filename)
	return hex.EncodeToString(h.Sum(nil))
}

func invalid(format string, args ...any) error {
	return errorf(connect.CodeInvalidArgument, format, args...)
}

func validateCreate(req *uploadv1.CreateUploadRequest) (*createParams, error) {
	p := &createParams{RequestID: req.GetRequestId(), Size: req.GetSizeBytes()}
	if !requestIDRe.MatchString(p.RequestID) {
		return nil, invalid("request_id must be 1 to 64 characters of [A-Za-z0-9_-]")
	}
	p.Title = strings.TrimSpace(req.GetTitle())
	if p.Title == "" || !utf8.ValidString(p.Title) || utf8.RuneCountInString(p.Title) > maxTitleChars || hasControl(p.Title) {
		return nil, invalid("title must be 1 to %d characters of text", maxTitleChars)
	}
	p.Description = req.GetDescription()
	if !utf8.ValidString(p.Description) || utf8.RuneCountInString(p.Description) > maxDescriptionChars {
		return nil, invalid("description must be at most %d characters of UTF-8 text", maxDescriptionChars)
	}
	if len(req.GetTags()) > maxTags {
		return nil, invalid("at most %d tags, got %d", maxTags, len(req.GetTags()))
	}
	for _, t := range req.GetTags() {
		t = strings.ToLower(t)
		if !tagRe.MatchString(t) {
			return nil, invalid("tag %q must be 1 to 32 characters of [a-z0-9-]", t)
		}
		if !slices.Contains(p.Tags, t) {
			p.Tags = append(p.Tags, t)
		}
	}
	if p.Size == 0 {
		return nil, invalid("size_bytes must be at least 1")
	}
	p.ContentType = strings.ToLower(strings.TrimSpace(req.GetContentType()))
	if len(p.ContentType) > maxContentTypeChars || !strings.HasPrefix(p.ContentType, "video/") || len(p.ContentType) == len("video/") ||
		strings.ContainsAny(p.ContentType, " \t\r\n\"\\") {
		return nil, invalid(`content_type must be a "video/*" MIME type of at most %d characters`, maxContentTypeChars)
	}
	fn := strings.ReplaceAll(req.GetFilename(), `\`, "/")
	if fn != "" {
		fn = path.Base(fn)
		if fn == "/" || fn == "." || fn == ".." {
			fn = ""
		}
	}
	if len(fn) > maxFilenameBytes || !utf8.ValidString(fn) || hasControl(fn) {
		return nil, invalid("filename must be at most %d bytes of UTF-8 text", maxFilenameBytes)
	}
	p.Filename = fn
	if pol := req.GetAccessPolicy(); pol != nil {
		np, err := validatePolicy(pol)
		if err != nil {
			return nil, err
		}
		p.Policy = np
	}
	return p, nil
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0
}

// validatePolicy checks an access policy with the rules metadata and auth
// apply too, and returns it normalized (EIP-55 addresses, canonical
// decimals).
func validatePolicy(in *authv1.AccessPolicy) (*authv1.AccessPolicy, error) {
	p, err := policy.Normalize(in)
	if err != nil {
		return nil, invalid("access_policy: %s", strings.TrimPrefix(err.Error(), policy.ErrInvalid.Error()+": "))
	}
	return p, nil
}

func validUploadID(id string) error {
	if !uploadIDRe.MatchString(id) {
		return invalid("upload_id must be \"upl_\" followed by a 26-character ULID")
	}
	return nil
}
