package httpjobs

import "time"

// TokenEqual is the comparison every token check goes through, for a test
// to see that it is the constant-time one and that checks use it.
var TokenEqual = &tokenEqual

// SetTokenClock sets the clock that times t's rotation window.
func SetTokenClock(t *Token, now func() time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.now = now
}
