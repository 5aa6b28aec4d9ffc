package check

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Instruction is one Dockerfile instruction with continuations joined.
type Instruction struct {
	Line int
	Cmd  string // upper case: FROM, COPY, ...
	Args string
}

// Stage is a build stage: its FROM base, its name and its instructions.
type Stage struct {
	Base, Name string
	Instrs     []Instruction
}

// ParseDockerfile splits a Dockerfile into stages. It handles comments,
// backslash continuations and the escape directive's default only:
// enough for this repository's Dockerfile, and a parse it cannot do fails.
func ParseDockerfile(text string) ([]Stage, error) {
	var stages []Stage
	var cur strings.Builder
	start := 0
	flush := func() error {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if s == "" {
			return nil
		}
		cmd, args, _ := strings.Cut(s, " ")
		in := Instruction{Line: start, Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)}
		if in.Cmd == "FROM" {
			f := strings.Fields(in.Args)
			f = slices.DeleteFunc(f, func(s string) bool { return strings.HasPrefix(s, "--") })
			if len(f) == 0 {
				return fmt.Errorf("line %d: FROM without an image", in.Line)
			}
			st := Stage{Base: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.Name = f[2]
			}
			stages = append(stages, st)
			return nil
		}
		if len(stages) == 0 {
			if in.Cmd == "ARG" {
				return nil // an ARG before the first FROM
			}
			return fmt.Errorf("line %d: %s before FROM", in.Line, in.Cmd)
		}
		if strings.Contains(in.Args, "<<") && (in.Cmd == "RUN" || in.Cmd == "COPY") {
			return fmt.Errorf("line %d: heredocs are not supported by this check", in.Line)
		}
		stages[len(stages)-1].Instrs = append(stages[len(stages)-1].Instrs, in)
		return nil
	}
	for i, l := range strings.Split(text, "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "#") {
			continue // comments, parser directives included, even inside a continuation
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if c, ok := strings.CutSuffix(t, "\\"); ok {
			cur.WriteString(c + " ")
			continue
		}
		cur.WriteString(t)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(stages) == 0 {
		return nil, errors.New("no FROM")
	}
	return stages, nil
}

// copyArgs splits COPY/ADD arguments into flags, sources and destination,
// in shell or JSON form.
func copyArgs(args string) (flags, srcs []string, dst string, err error) {
	f := strings.Fields(args)
	for len(f) > 0 && strings.HasPrefix(f[0], "--") {
		flags = append(flags, f[0])
		f = f[1:]
	}
	rest := strings.Join(f, " ")
	if strings.HasPrefix(rest, "[") {
		if err := json.Unmarshal([]byte(rest), &f); err != nil {
			return nil, nil, "", fmt.Errorf("JSON form %s: %w", rest, err)
		}
	}
	if len(f) < 2 {
		return nil, nil, "", fmt.Errorf("want sources and a destination, got %q", args)
	}
	return flags, f[:len(f)-1], f[len(f)-1], nil
}

// chain is the stage and the stages it is built FROM, base first, so a
// setting inherited from an earlier stage counts.
func chain(stages []Stage, i int) []Stage {
	out := []Stage{stages[i]}
	for {
		base := out[0].Base
		j := slices.IndexFunc(stages[:i], func(s Stage) bool { return s.Name != "" && s.Name == base })
		if j < 0 {
			return out
		}
		out = append([]Stage{stages[j]}, out...)
		i = j
	}
}

// CheckDockerfile checks the Dockerfile at path against the build context
// root: each COPY/ADD source of the context exists, the runtime (last)
// stage has ffmpeg and ffprobe (the transcoder and upload run them), runs
// as a non-root USER, and has an exec-form ENTRYPOINT (so SIGTERM reaches
// the binary, not a shell, and the drain runs).
func CheckDockerfile(path, root string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	stages, err := ParseDockerfile(string(b))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	ignore, err := readDockerignore(filepath.Join(root, ".dockerignore"))
	if err != nil {
		return err
	}
	var errs []error
	for _, st := range stages {
		for _, in := range st.Instrs {
			if in.Cmd != "COPY" && in.Cmd != "ADD" {
				continue
			}
			flags, srcs, _, err := copyArgs(in.Args)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s line %d: %w", path, in.Line, err))
				continue
			}
			if slices.ContainsFunc(flags, func(f string) bool { return strings.HasPrefix(f, "--from") }) {
				continue // from another stage or image
			}
			for _, s := range srcs {
				if strings.Contains(s, "://") || strings.HasPrefix(s, "git@") {
					continue // ADD of a URL
				}
				m, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(s)))
				if err != nil || len(m) == 0 {
					errs = append(errs, fmt.Errorf("%s line %d: %s source %q is not in the repository", path, in.Line, in.Cmd, s))
				} else if ignore.excludes(strings.TrimPrefix(filepath.ToSlash(filepath.Clean(s)), "/")) {
					errs = append(errs, fmt.Errorf("%s line %d: %s source %q is excluded from the build context by .dockerignore", path, in.Line, in.Cmd, s))
				}
			}
		}
	}
	var user, entry string
	var entryLine int
	has := map[string]bool{}
	for _, st := range chain(stages, len(stages)-1) {
		for _, in := range st.Instrs {
			switch in.Cmd {
			case "USER":
				user = in.Args
			case "ENTRYPOINT":
				entry, entryLine = in.Args, in.Line
			case "RUN":
				if installsFFmpeg(in.Args) {
					has["ffmpeg"], has["ffprobe"] = true, true // ffprobe ships in the ffmpeg package
				}
			case "COPY", "ADD":
				_, srcs, dst, err := copyArgs(in.Args)
				if err != nil {
					continue
				}
				for _, s := range append(srcs, dst) {
					for _, tool := range []string{"ffmpeg", "ffprobe"} {
						if filepath.Base(strings.TrimSuffix(s, "/")) == tool {
							has[tool] = true
						}
					}
				}
			}
		}
	}
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if !has[tool] {
			errs = append(errs, fmt.Errorf("%s: the runtime stage neither installs the ffmpeg package nor copies %s", path, tool))
		}
	}
	name, _, _ := strings.Cut(user, ":")
	if name == "" || name == "root" || name == "0" {
		errs = append(errs, fmt.Errorf("%s: the runtime stage runs as %q; set a non-root USER (a numeric uid satisfies runAsNonRoot)", path, user))
	}
	var argv []string
	if entry == "" {
		errs = append(errs, fmt.Errorf("%s: the runtime stage has no ENTRYPOINT", path))
	} else if err := json.Unmarshal([]byte(entry), &argv); err != nil || len(argv) == 0 {
		errs = append(errs, fmt.Errorf("%s line %d: ENTRYPOINT %s is not exec form [\"binary\", ...]: a shell would swallow SIGTERM", path, entryLine, entry))
	}
	return errors.Join(errs...)
}

// installsFFmpeg reports whether a RUN installs the ffmpeg package with a
// distribution's package manager.
func installsFFmpeg(run string) bool {
	f := strings.Fields(strings.NewReplacer(";", " ", "&&", " ", "||", " ").Replace(run))
	installing := false
	for i, w := range f {
		switch {
		case (w == "install" || w == "add") && i > 0:
			installing = true
		case slices.Contains([]string{"apt-get", "apt", "apk", "dnf", "microdnf", "yum"}, w):
			installing = false
		case installing && (w == "ffmpeg" || strings.HasPrefix(w, "ffmpeg=")):
			return true
		}
	}
	return false
}

// dockerignore is a .dockerignore's patterns, in order.
type dockerignore []struct {
	re     *regexp.Regexp
	negate bool
}

func readDockerignore(path string) (dockerignore, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var d dockerignore
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		neg := strings.HasPrefix(l, "!")
		l = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(strings.TrimPrefix(l, "!"))), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(l); i++ {
			switch {
			case strings.HasPrefix(l[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(l[i:], "**"):
				re.WriteString(".*")
				i++
			case l[i] == '*':
				re.WriteString("[^/]*")
			case l[i] == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(l[i : i+1]))
			}
		}
		re.WriteString("$")
		r, err := regexp.Compile(re.String())
		if err != nil {
			return nil, fmt.Errorf("%s: pattern %q: %w", path, l, err)
		}
		d = append(d, struct {
			re     *regexp.Regexp
			negate bool
		}{r, neg})
	}
	return d, nil
}

// excludes reports whether the context path p (slash-separated, relative)
// is left out of the build context: the last pattern matching it or one
// of its parent directories decides, as in Docker.
func (d dockerignore) excludes(p string) bool {
	if p == "." || p == "" {
		return false // the whole context; patterns drop parts of it
	}
	out := false
	for _, pat := range d {
		for q := p; ; q = filepath.ToSlash(filepath.Dir(q)) {
			if pat.re.MatchString(q) {
				out = !pat.negate
				break
			}
			if !strings.Contains(q, "/") {
				break
			}
		}
	}
	return out
}
