//go:build !linux

package ytdlp

import "os/exec"

// ownProcessGroup: elsewhere than Linux, the context kills yt-dlp itself.
func ownProcessGroup(*exec.Cmd) {}
