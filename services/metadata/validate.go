package metadata

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/video"
)

// Limits from the contract.
const (
	maxTitle       = 200  // characters
	maxDescription = 5000 // characters
	maxTags        = 20
	maxTag         = 32
	maxID          = 64
	maxQuery       = 200 // characters
	maxQueryWords  = 32
)

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
}

// checkText refuses invalid UTF-8 and control characters (NUL included);
// allowNewlines lets \n, \r and \t through.
func checkText(field, s string, allowNewlines bool) error {
	if !utf8.ValidString(s) {
		return invalidf("%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if allowNewlines && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) {
			return invalidf("%s contains the control character %U", field, r)
		}
	}
	return nil
}

// normalizeTitle trims surrounding space and checks the title.
func normalizeTitle(s string) (string, error) {
	if err := checkText("title", s, false); err != nil {
		return "", err
	}
	s = strings.TrimSpace(s)
	if n := utf8.RuneCountInString(s); n < 1 || n > maxTitle {
		return "", invalidf("title must be 1 to %d characters, got %d", maxTitle, n)
	}
	return s, nil
}

func checkDescription(s string) error {
	if err := checkText("description", s, true); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(s); n > maxDescription {
		return invalidf("description must be at most %d characters, got %d", maxDescription, n)
	}
	return nil
}

// normalizeTags lowercases and deduplicates tags, keeping their order, and
// checks each is 1 to 32 characters of [a-z0-9-].
func normalizeTags(tags []string) ([]string, error) {
	if len(tags) > 4*maxTags {
		return nil, invalidf("at most %d tags, got %d", maxTags, len(tags))
	}
	var out []string
	seen := map[string]bool{}
	for _, t := range tags {
		lt := strings.ToLower(t)
		if err := checkTag(lt); err != nil {
			return nil, err
		}
		if !seen[lt] {
			seen[lt] = true
			out = append(out, lt)
		}
	}
	if len(out) > maxTags {
		return nil, invalidf("at most %d tags, got %d", maxTags, len(out))
	}
	return out, nil
}

func checkTag(t string) error {
	if len(t) < 1 || len(t) > maxTag {
		return invalidf("tag %q must be 1 to %d characters", clip(t), maxTag)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return invalidf("tag %q may hold only a-z, 0-9 and '-'", clip(t))
		}
	}
	return nil
}

// checkVideoID checks id against video.CheckID as an invalid argument.
func checkVideoID(id string) error {
	if err := video.CheckID(id); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return nil
}

// checkOpaqueID checks ids chosen by other parties (request ids, upload
// ids): 1 to 64 printable characters.
func checkOpaqueID(field, s string, required bool) error {
	if s == "" {
		if required {
			return invalidf("%s is required", field)
		}
		return nil
	}
	if len(s) > maxID {
		return invalidf("%s must be at most %d characters", field, maxID)
	}
	for _, r := range s {
		if r < 0x21 || r > 0x7e {
			return invalidf("%s may hold only printable ASCII without spaces", field)
		}
	}
	return nil
}

func normalizeAddress(field, s string) (string, error) {
	a, err := identity.NormalizeAddress(s)
	if err != nil {
		return "", invalidf("%s %q: %v", field, clip(s), err)
	}
	return a, nil
}

// searchWords splits a query into the words the full-text indexes know:
// runs of letters, digits and combining marks. Everything else (quotes,
// operators, punctuation, emoji) separates words and is never passed to the
// engine's query syntax.
func searchWords(q string) ([]string, error) {
	if err := checkText("query", q, false); err != nil {
		return nil, err
	}
	if n := utf8.RuneCountInString(q); n < 1 || n > maxQuery {
		return nil, invalidf("query must be 1 to %d characters, got %d", maxQuery, n)
	}
	words := strings.FieldsFunc(q, func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r))
	})
	if len(words) > maxQueryWords {
		return nil, invalidf("query must have at most %d words, got %d", maxQueryWords, len(words))
	}
	for i, w := range words {
		words[i] = strings.ToLower(w)
	}
	return words, nil
}

func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for i := n; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "..."
		}
	}
	return ""
}
