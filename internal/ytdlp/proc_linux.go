package ytdlp

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup puts yt-dlp and whatever it starts (a JavaScript runtime
// for YouTube's challenges) into a process group of their own, killed whole
// when the job's context ends, and has the kernel kill yt-dlp should the
// worker die first (kill -9 included): no yt-dlp outlives its job.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
