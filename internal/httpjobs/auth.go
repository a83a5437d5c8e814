package httpjobs

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Why a request was refused, in the worker's log only: the answer is the
// same 401 either way, so a caller learns nothing from it.
const (
	refusedNoToken    = "no bearer token"
	refusedWrongToken = "wrong token"
)

// authorized checks the request's bearer token, before anything else of the
// request is looked at, and answers 401 when it is missing or wrong. The
// answer says nothing more than "Unauthorized": not which of the two, not
// the path, not what a token looks like.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	presented, ok := bearer(r)
	why := refusedNoToken
	if ok {
		if s.opts.Token.Check(presented) {
			return true
		}
		why = refusedWrongToken
	}
	s.refused.add(r.RemoteAddr, why)
	w.Header().Set("WWW-Authenticate", "Bearer")
	http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
	return false
}

// bearer returns the token of an "Authorization: Bearer <token>" header
// (the scheme in any letter case, RFC 7235).
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// refusals logs refused requests: the first at once, then at most one line
// per interval, counting the refusals since the line before, so that a
// scanner or a manager with the wrong token (or a newer one, sending the
// same job of an unknown kind again and again) cannot flood the log.
// Nothing of what an unauthorized caller sent is logged but its address.
type refusals struct {
	every time.Duration
	now   func() time.Time
	log   logr.Logger
	// what the line says, before the counts.
	what string

	mu       sync.Mutex
	last     time.Time // of the last line; zero before the first
	unlogged int       // refusals since that line
}

func (r *refusals) add(from, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unlogged++
	now := r.now()
	if !r.last.IsZero() && now.Sub(r.last) < r.every {
		return
	}
	r.log.Info(r.what, "refused", r.unlogged, "lastFrom", from, "lastWhy", why, "atMostOneLineEvery", r.every.String())
	r.last, r.unlogged = now, 0
}
