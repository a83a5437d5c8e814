package httpjobs

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// TokenFlag is the flag of both programs that names the token file; errors
// name it so that a user knows what to fix.
const TokenFlag = "--job-token-file"

// MinTokenLen is the shortest token taken: a short one can be guessed by
// whoever reaches the endpoint. `head -c 32 /dev/urandom | base64` makes 44
// characters.
const MinTokenLen = 16

// RotationWindow is how long the token a file held before it changed
// stays valid. A Secret updated in place reaches each pod's mounted file on
// the kubelet's next sync, a minute or so apart from pod to pod; within the
// window a worker that already has the new token still takes the old one,
// and a manager that already has it falls back to the old one on a 401, so
// a rotation refuses no job. A fresh process knows only the current token.
const RotationWindow = 5 * time.Minute

// Token is the shared secret of the job endpoint: the manager sends it as
// "Authorization: Bearer <token>" and the workers check it. Both read it
// from a file, a mounted Secret key, again on every use (a read of a small
// file costs microseconds, far less than the request it guards), so that a
// rotated Secret takes effect without a restart. A read that fails, or
// finds no valid token, keeps the token read before: a file replaced with
// nothing by mistake must not open the endpoint nor stop the jobs. It is
// safe for concurrent use.
type Token struct {
	path string
	log  logr.Logger
	now  func() time.Time

	mu       sync.Mutex
	current  secret
	previous secret // valid until changed + RotationWindow; empty if none
	changed  time.Time
	failing  string // the read error last logged, so that each is logged once
}

// secret is a token and its SHA-256, which is what the worker compares: two
// digests have the same length whatever the tokens', so the comparison
// tells nothing of the length either.
type secret struct {
	text string
	sum  [sha256.Size]byte
}

func newSecret(text string) secret { return secret{text: text, sum: sha256.Sum256([]byte(text))} }

// LoadToken reads the token file at path. The error names TokenFlag and
// says what a valid token is; it never contains the file's content.
func LoadToken(path string, log logr.Logger) (*Token, error) {
	if path == "" {
		return nil, fmt.Errorf("%s is empty: give the file holding the job endpoint's shared token", TokenFlag)
	}
	text, err := readToken(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", TokenFlag, path, err)
	}
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	return &Token{path: path, log: log, now: time.Now, current: newSecret(text)}, nil
}

// errBadToken says what a token must be, without repeating the file's.
var errBadToken = fmt.Errorf("not a token: want at least %d characters of printable ASCII without spaces, e.g. made with `head -c 32 /dev/urandom | base64`", MinTokenLen)

// readToken reads a token file: one token, surrounding white space (the
// newline an editor or `echo` adds) ignored.
func readToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// The *PathError already names the file; keep only what happened.
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", err
	}
	text := strings.TrimSpace(string(data))
	if len(text) < MinTokenLen {
		return "", errBadToken
	}
	for _, c := range []byte(text) {
		if c < 0x21 || c > 0x7e {
			return "", errBadToken
		}
	}
	return text, nil
}

// tokens reads the file again and returns the current token and, within
// RotationWindow of a change, the one before (else an empty one).
func (t *Token) tokens() (current, previous secret) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refresh()
	if t.previous.text != "" && t.now().Sub(t.changed) < RotationWindow {
		return t.current, t.previous
	}
	return t.current, secret{}
}

// refresh takes the file's token if it changed; t.mu is held.
func (t *Token) refresh() {
	text, err := readToken(t.path)
	if err != nil {
		if msg := err.Error(); msg != t.failing {
			t.failing = msg
			t.log.Info("cannot read the job token file; keeping the token read before", "flag", TokenFlag, "file", t.path, "error", msg)
		}
		return
	}
	if t.failing != "" {
		t.failing = ""
		t.log.Info("the job token file is readable again", "flag", TokenFlag, "file", t.path)
	}
	if text == t.current.text {
		return
	}
	t.previous, t.current, t.changed = t.current, newSecret(text), t.now()
	t.log.Info("the job token changed; the one before stays valid for the rotation window", "file", t.path, "window", RotationWindow)
}

// tokenEqual compares two digests in constant time, so that the time a
// refusal takes tells nothing of how much of a guess was right. A variable
// so that a test can see that every check goes through it.
var tokenEqual = subtle.ConstantTimeCompare

// Check reports whether presented is the current token or, within the
// rotation window, the one before. Both are compared whatever the first
// comparison says, so the time taken does not tell which one matched.
func (t *Token) Check(presented string) bool {
	current, previous := t.tokens()
	sum := sha256.Sum256([]byte(presented))
	ok := tokenEqual(sum[:], current.sum[:]) == 1
	if previous.text != "" {
		ok = tokenEqual(sum[:], previous.sum[:]) == 1 || ok
	}
	return ok
}
