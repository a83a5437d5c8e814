package fake

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// Media is the body of one format: what googlevideo.com serves for it.
// ReadAt must be safe for concurrent use, because kkdai fetches several
// ranges of one stream at once.
type Media interface {
	Size() int64
	ReadAt(p []byte, off int64) (int, error)
}

// Bytes serves b. The slice must not change afterwards.
func Bytes(b []byte) Media { return bytes.NewReader(b) }

// File serves the file at path, which must not change while the server runs.
// The file is opened for every read rather than held open, so a Video can be
// dropped without leaking a descriptor and a test's temporary directory can be
// removed at any time.
func File(path string) (Media, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("fake media %s: not a regular file", path)
	}
	return fileMedia{path: path, size: fi.Size()}, nil
}

type fileMedia struct {
	path string
	size int64
}

func (m fileMedia) Size() int64 { return m.size }

func (m fileMedia) ReadAt(p []byte, off int64) (int, error) {
	f, err := os.Open(m.path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if rest := m.size - off; int64(len(p)) > rest {
		// Never serve past the size announced in contentLength, even if
		// the file grew.
		if rest <= 0 {
			return 0, io.EOF
		}
		n, err := f.ReadAt(p[:rest], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return f.ReadAt(p, off)
}

// Synthetic returns size bytes of deterministic pseudo-random content, so that
// a test can stream hundreds of megabytes without storing them. Any range is
// computed directly (no state), so concurrent ranged reads cost nothing extra.
//
// The content is specified, so that a digest can be computed independently of
// this package: the 8 bytes at offset 8n are the n-th output (n = 0, 1, ...)
// of SplitMix64 started at state seed, written little-endian. SplitMix64 adds
// 0x9E3779B97F4A7C15 to its state, then returns the state mixed by
// z ^= z>>30; z *= 0xBF58476D1CE4E5B9; z ^= z>>27; z *= 0x94D049BB133111EB;
// z ^= z>>31. The last block is cut to size.
func Synthetic(seed uint64, size int64) Media {
	if size < 0 {
		size = 0
	}
	return synthetic{seed: seed, size: size}
}

// Seed derives a Synthetic seed from a string (64-bit FNV-1a), so that
// fixtures can name their content ("dQw4w9WgXcQ/140") instead of picking
// numbers.
func Seed(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

type synthetic struct {
	seed uint64
	size int64
}

func (m synthetic) Size() int64 { return m.size }

const golden = 0x9E3779B97F4A7C15

func splitmixAt(seed uint64, n uint64) uint64 {
	z := seed + (n+1)*golden
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func (m synthetic) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("fake media: negative offset %d", off)
	}
	if off >= m.size {
		return 0, io.EOF
	}
	var err error
	if rest := m.size - off; int64(len(p)) > rest {
		p, err = p[:rest], io.EOF
	}
	n := 0
	var block [8]byte
	// Unaligned head.
	if r := off % 8; r != 0 {
		binary.LittleEndian.PutUint64(block[:], splitmixAt(m.seed, uint64(off/8)))
		n = copy(p, block[r:])
	}
	// Aligned body and tail.
	for i := uint64((off + int64(n)) / 8); n < len(p); i++ {
		if len(p)-n >= 8 {
			binary.LittleEndian.PutUint64(p[n:], splitmixAt(m.seed, i))
			n += 8
			continue
		}
		binary.LittleEndian.PutUint64(block[:], splitmixAt(m.seed, i))
		n += copy(p[n:], block[:])
	}
	return n, err
}

// SHA256 returns the hex SHA-256 digest of all of m, the way ytx records
// artifacts, so that tests can compare what arrived with what was served.
func SHA256(m Media) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(m, 0, m.Size())); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
