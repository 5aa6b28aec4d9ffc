// Package buildinfo reports what binary is running: the release version set
// at link time, or the module version and VCS revision Go recorded.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at link time: -ldflags "-X github.com/streamgate/streamgate/internal/buildinfo.version=v1.2.3".
var version = ""

// Info describes the running binary.
type Info struct {
	// Version is the release version, "devel" for an untagged build.
	Version string
	// Revision is the VCS commit, empty when unknown.
	Revision string
	// GoVersion is the toolchain that built the binary.
	GoVersion string
}

// Read returns the build information of the running binary.
func Read() Info {
	info := Info{Version: version, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				info.Revision = s.Value
			}
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	return info
}

// String renders the info on one line, e.g. "streamgate v1.2.3 (abc123) go1.26.8".
func (i Info) String() string {
	s := "streamgate " + i.Version
	if i.Revision != "" {
		rev := i.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += " (" + rev + ")"
	}
	return fmt.Sprintf("%s %s", s, i.GoVersion)
}
