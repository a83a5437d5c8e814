package playlist

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// ArchiveFile is the name of a playlist's download archive in its storage
// prefix.
const ArchiveFile = "archive.txt"

// Archive is a playlist's download archive, in yt-dlp's --download-archive
// format: one "youtube VIDEO_ID" line per video the playlist is done with,
// in the order they were done. A user can hand it to yt-dlp, or start a
// playlist from one of yt-dlp's. ytx records videos that succeeded, that
// failed for good (private, removed) and whose extraction a user deleted:
// none of them is made again.
type Archive struct {
	ids   map[string]bool
	order []string
}

// archivePrefix is the extractor key yt-dlp writes for YouTube.
const archivePrefix = "youtube "

// ParseArchive reads an archive. Lines of other extractors and blank
// lines are kept out; yt-dlp's own files may hold them.
func ParseArchive(r io.Reader) (*Archive, error) {
	a := NewArchive()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		id, ok := strings.CutPrefix(line, archivePrefix)
		if !ok {
			continue
		}
		a.Add(strings.TrimSpace(id))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the archive: %w", err)
	}
	return a, nil
}

// NewArchive is an empty archive.
func NewArchive() *Archive { return &Archive{ids: map[string]bool{}} }

// Has says whether the archive holds id.
func (a *Archive) Has(id string) bool { return a.ids[id] }

// Add records id; it reports whether id is new.
func (a *Archive) Add(id string) bool {
	if id == "" || a.ids[id] {
		return false
	}
	a.ids[id] = true
	a.order = append(a.order, id)
	return true
}

// Len is the number of IDs held.
func (a *Archive) Len() int { return len(a.order) }

// Bytes is the archive's file.
func (a *Archive) Bytes() []byte {
	var b bytes.Buffer
	for _, id := range a.order {
		b.WriteString(archivePrefix + id + "\n")
	}
	return b.Bytes()
}
