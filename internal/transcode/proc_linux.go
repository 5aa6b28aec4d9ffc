package transcode

import "syscall"

// sysProcAttr puts FFmpeg in its own process group and has the kernel kill
// it if this process dies, so a crashed worker leaves no encoder behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
