package faults

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/storage"
	"ytx.dev/ytx/workers"
)

// 12. A stale worker's upload arrives last. The S3 proxy holds a worker's
// upload of attempt 1's audio.m4a (its fence already passed); the worker
// then hangs (SIGSTOP), the manager times the attempt out and another
// worker's attempt 2 succeeds. Only then does the held upload reach S3, and
// the hung worker wakes. The files that status lists are attempt 2's, byte
// for byte, and by the end nothing else is stored under the name: the
// fence is a lock, because attempt 1 writes only under keys of its own.
func TestStaleUploadArrivesLast(t *testing.T) {
	runs := *scale
	s := newSystem(t, systemOptions{s3: true, workerFlags: fastGroup})
	proxy := startS3Proxy(t, s3.Endpoint)
	s.startManager("manager")
	for _, w := range []string{"worker-a", "worker-b"} {
		s.startWorker(w, "--storage", proxy.url(s.storage))
	}
	var xs []extraction
	landed, removedByOwn := 0, 0
	for run := range runs {
		x := extraction{name: fmt.Sprintf("stale-%d", run), video: clipVideos(t, 1, 0)[0], spec: audioM4A,
			want: want{phase: v1alpha1.PhaseSucceeded, attempts: 2, lastFailure: v1alpha1.ReasonTimeout}}
		xs = append(xs, x)
		h := proxy.hold(func(r *http.Request) bool {
			return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/"+s.ns+"/"+x.name+"/") && strings.HasSuffix(r.URL.Path, "/1-1/audio.m4a")
		})
		s.apply([]extraction{x})
		if !h.waitCaught(60 * time.Second) {
			t.Fatalf("%s: no upload of attempt 1's audio.m4a reached the proxy: %s", x.name, describe(s.list()[x.name]))
		}
		victim := s.list()[x.name].Status.Worker
		p := s.worker(victim)
		p.signal(syscall.SIGSTOP)
		if !waitUntil(90*time.Second, func() bool {
			got := s.list()[x.name]
			return got != nil && got.Status.Phase == v1alpha1.PhaseSucceeded
		}) {
			p.signal(syscall.SIGCONT)
			h.release()
			t.Fatalf("%s did not complete while %s hung: %s", x.name, victim, describe(s.list()[x.name]))
		}
		done := s.list()[x.name]

		h.release()
		if !waitUntil(30*time.Second, func() bool { held, st := h.sent(); return len(st) == held }) {
			t.Fatalf("%s: the held uploads were not sent on", x.name)
		}
		if _, statuses := h.sent(); !slices.Contains(statuses, http.StatusOK) {
			t.Fatalf("%s: S3 refused every held upload (%v): the scenario needs one to land", x.name, statuses)
		}
		stale := storage.AttemptKey(s.ns, x.name, string(done.UID), storage.Attempt{Generation: 1, Attempt: 1}, "audio.m4a")
		if _, err := s.store.Stat(context.Background(), stale); err == nil {
			landed++
		} else if !errors.Is(err, storage.ErrNotFound) {
			t.Fatal(err)
		}
		// The newer attempt's files are untouched by the late upload.
		for _, a := range done.Status.Artifacts {
			key := storage.AttemptKey(s.ns, x.name, string(done.UID), storage.Attempt{Generation: 1, Attempt: 2}, a.URI[strings.LastIndex(a.URI, "/")+1:])
			if sum, err := s.sha256(context.Background(), key); err != nil || sum != a.SHA256 {
				t.Errorf("%s: after the late upload %s has sha256 %s (%v); status says %s", x.name, key, sum, err, a.SHA256)
			}
		}

		p.signal(syscall.SIGCONT)
		if waitUntil(30*time.Second, func() bool {
			for _, l := range s.book.from(p, workers.LogRemovedOwn) {
				if strings.HasPrefix(l.str(workers.KeyJob), jobName(s.ns, x.name)+" ") {
					if n, _ := l.fields[workers.KeyCount].(float64); n > 0 {
						removedByOwn++
					}
					return true
				}
			}
			return false
		}) {
			continue
		}
		t.Errorf("%s woke and did not clean up its abandoned attempt", victim)
	}
	s.settle("stale upload arrives last (S3 proxy)", xs, runs, within(time.Minute),
		fmt.Sprintf("%d late uploads landed after the newer attempt succeeded; %d removed by their own worker, the rest by the manager's tidy", landed, removedByOwn))
	if landed == 0 {
		t.Error("no late upload landed: the scenario proved nothing")
	}
}
