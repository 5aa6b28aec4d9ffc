package check

import (
	"fmt"
	"strings"
)

// FencedBlock returns the lines of the first ``` block of md whose info
// string is lang, or an error naming lang when there is none.
func FencedBlock(md, lang string) ([]string, error) {
	var lines []string
	in := false
	for _, l := range strings.Split(md, "\n") {
		t := strings.TrimSpace(l)
		switch {
		case !in && strings.HasPrefix(t, "```") && strings.TrimSpace(strings.TrimPrefix(t, "```")) == lang:
			in = true
		case in && strings.HasPrefix(t, "```"):
			return lines, nil
		case in:
			lines = append(lines, l)
		}
	}
	if in {
		return nil, fmt.Errorf("```%s block is not closed", lang)
	}
	return nil, fmt.Errorf("no ```%s block", lang)
}

// contentLines drops comments (# to the end of the line) and blank lines,
// and returns the rest trimmed, with their 1-based line numbers in the
// block.
func contentLines(lines []string) (out []string, nums []int) {
	for i, l := range lines {
		if j := strings.IndexByte(l, '#'); j >= 0 {
			l = l[:j]
		}
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
			nums = append(nums, i+1)
		}
	}
	return out, nums
}

// ParseOperatorSecrets reads the ```operator-secrets block of
// deploy/k8s/README.md (under "Secrets you supply"): one Secret a line,
// `name` or `name: key, key` to also pin the keys the manifests may use.
func ParseOperatorSecrets(md string) ([]OperatorSecret, error) {
	block, err := FencedBlock(md, "operator-secrets")
	if err != nil {
		return nil, err
	}
	lines, nums := contentLines(block)
	var out []OperatorSecret
	for i, l := range lines {
		name, keys, _ := strings.Cut(l, ":")
		s := OperatorSecret{Name: strings.TrimSpace(name)}
		if s.Name == "" || strings.ContainsAny(s.Name, " \t,") {
			return nil, fmt.Errorf("operator-secrets line %d: want `name` or `name: key, key`, got %q", nums[i], l)
		}
		for _, k := range strings.Split(keys, ",") {
			if k = strings.TrimSpace(k); k != "" {
				s.Keys = append(s.Keys, k)
			}
		}
		out = append(out, s)
	}
	return out, nil
}
