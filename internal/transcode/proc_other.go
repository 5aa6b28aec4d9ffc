//go:build unix && !linux

package transcode

import "syscall"

// sysProcAttr puts FFmpeg in its own process group.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
