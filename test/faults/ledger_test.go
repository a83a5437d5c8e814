package faults

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/playlist"
	"ytx.dev/ytx/internal/storage"
	"ytx.dev/ytx/workers"
)

// want is the outcome an extraction must reach.
type want struct {
	phase v1alpha1.Phase // Succeeded or Failed
	// reason is the Failed condition's reason, for Failed.
	reason string
	// lastFailure, when set, is the reason of status.lastFailure.
	lastFailure string
	// attempts, when > 0, is exactly status.attempts; maxAttempts, when >
	// 0, bounds it.
	attempts, maxAttempts int32
}

var succeed = want{phase: v1alpha1.PhaseSucceeded}

// row is one line of the suite's table.
type row struct {
	scenario         string
	runs             int // extractions submitted
	faults           int // faults injected (kills, stops, outages, messages)
	completed        int // Succeeded, as wanted
	failedAsExpected int // Failed with the wanted reason
	lost             int // not finished by the deadline
	doubled          int // files written twice or left behind (see package doc)
	unexpected       int // finished otherwise than wanted, or status.attempts wrong
	notes            string
}

type results struct {
	mu   sync.Mutex
	rows []*row
}

// add puts x into the table; a scenario may still count into it.
func (r *results) add(x *row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, x)
}

// note adds to the notes of a scenario's row.
func (r *results) note(scenario, note string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.rows {
		if x.scenario == scenario {
			x.notes = strings.TrimPrefix(x.notes+"; "+note, "; ")
		}
	}
}

func (r *results) markdown(scale int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "\nytx fault-injection suite (scale %d)\n\n", scale)
	b.WriteString("| scenario | runs | faults | completed | failed as expected | lost | doubled | unexpected | notes |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	var sum row
	for _, x := range r.rows {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d | %s |\n",
			x.scenario, x.runs, x.faults, x.completed, x.failedAsExpected, x.lost, x.doubled, x.unexpected, x.notes)
		sum.runs += x.runs
		sum.faults += x.faults
		sum.completed += x.completed
		sum.failedAsExpected += x.failedAsExpected
		sum.lost += x.lost
		sum.doubled += x.doubled
		sum.unexpected += x.unexpected
	}
	fmt.Fprintf(&b, "| **all** | %d | %d | %d | %d | %d | %d | %d | |\n\n",
		sum.runs, sum.faults, sum.completed, sum.failedAsExpected, sum.lost, sum.doubled, sum.unexpected)
	return b.String()
}

// within scales a scenario's time limit with its counts: ten times the
// extractions take longer to drain through the same workers.
func within(base time.Duration) time.Duration {
	return base * time.Duration(max(1, (*scale+2)/3))
}

// settle waits until every extraction has finished (or limit passes), then
// counts the outcomes against what each wants and looks for doubled work.
// Every problem is also a test error with the details.
func (s *system) settle(scenario string, xs []extraction, faults int, limit time.Duration, notes ...string) *row {
	s.t.Helper()
	r := &row{scenario: scenario, runs: len(xs), faults: faults, notes: strings.Join(notes, "; ")}
	var final map[string]*v1alpha1.YouTubeExtraction
	lastReport := time.Now()
	waitUntil(limit, func() bool {
		if len(s.crashed()) > 0 {
			return true // no use waiting: reported below
		}
		final = s.list()
		if time.Since(lastReport) > 15*time.Second {
			lastReport = time.Now()
			s.t.Logf("%s: waiting; phases now %v", scenario, phases(final))
		}
		for _, e := range xs {
			if x := final[e.name]; x == nil || !x.Status.Phase.Finished() || x.Status.ObservedGeneration != x.Generation {
				return false
			}
		}
		return true
	})
	for _, e := range xs {
		x := final[e.name]
		switch {
		case x == nil || !x.Status.Phase.Finished():
			r.lost++
			s.t.Errorf("%s: LOST, not finished after %s: %s", e.name, limit, describe(x))
			continue
		case !e.want.met(x):
			r.unexpected++
			s.t.Errorf("%s: UNEXPECTED, want %+v, got %s", e.name, e.want, describe(x))
		case x.Status.Phase == v1alpha1.PhaseSucceeded:
			r.completed++
		default:
			r.failedAsExpected++
		}
		// The manager tidies a Failed resource's unlisted files right
		// after it fails, and the last log lines may still be on their
		// way: give them a moment.
		var problems, missing []string
		waitUntil(10*time.Second, func() bool {
			problems = append(s.storageProblems(x), s.logProblems(x)...)
			missing = s.missingEvidence(x)
			return len(problems)+len(missing) == 0
		})
		if len(problems) > 0 {
			r.doubled++
			s.t.Errorf("%s: DOUBLED: %s", e.name, strings.Join(problems, "; "))
		}
		if len(missing) > 0 {
			// The checks above found nothing to count because what they
			// count is missing: that proves nothing.
			r.unexpected++
			s.t.Errorf("%s: UNVERIFIED, the workers' logs lack what this outcome must leave: %s", e.name, strings.Join(missing, "; "))
		}
	}
	if r.lost > 0 {
		s.t.Errorf("Kafka: %s", s.groupState())
	}
	for _, c := range s.crashed() {
		s.t.Errorf("a process crashed: %s", c)
	}
	for _, left := range s.scratchLeft() {
		s.t.Errorf("scratch files left behind: %s", left)
	}
	table.add(r)
	return r
}

// phases counts extractions by phase.
func phases(xs map[string]*v1alpha1.YouTubeExtraction) map[v1alpha1.Phase]int {
	out := map[v1alpha1.Phase]int{}
	for _, x := range xs {
		out[x.Status.Phase]++
	}
	return out
}

func (w want) met(x *v1alpha1.YouTubeExtraction) bool {
	if x.Status.Phase != w.phase {
		return false
	}
	if w.reason != "" {
		c := meta.FindStatusCondition(x.Status.Conditions, v1alpha1.ConditionFailed)
		if c == nil || c.Reason != w.reason {
			return false
		}
	}
	if w.lastFailure != "" && (x.Status.LastFailure == nil || x.Status.LastFailure.Reason != w.lastFailure) {
		return false
	}
	if w.attempts > 0 && x.Status.Attempts != w.attempts {
		return false
	}
	return w.maxAttempts == 0 || x.Status.Attempts <= w.maxAttempts
}

// finalClaim is the job string (job.Message.String, as the workers log it)
// of the attempt that x's status names: its generation and attempt.
func finalClaim(x *v1alpha1.YouTubeExtraction) string {
	return job.Message{Namespace: x.Namespace, Name: x.Name, UID: x.UID, Generation: x.Status.ObservedGeneration, Attempt: x.Status.Attempts}.String()
}

// finalWriter is what the attempt that x's status names, run by
// status.worker, records with every file it stores.
func finalWriter(x *v1alpha1.YouTubeExtraction) string {
	return workers.Writer(x.UID, x.Status.ObservedGeneration, x.Status.Attempts, x.Status.Worker)
}

// storageProblems compares what is stored under the extraction's prefix
// with status.artifacts: the same files, the same sha256, each written by
// the attempt and worker that status names (the writer recorded with the
// object: bytes alone cannot tell two attempts apart, the fake's media is
// the same for both), and nothing an interrupted upload left.
func (s *system) storageProblems(x *v1alpha1.YouTubeExtraction) []string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Everything stored under the name: an earlier attempt's file, or a
	// stale worker's late upload, is as wrong as a file that differs.
	prefix := storage.NamePrefix(x.Namespace, x.Name)
	if p := playlist.Parent(x); p != nil {
		// A playlist's extraction: everything under its name in the
		// playlist's videos/.
		prefix = storage.ExtractionPrefix(x.Namespace, p.Name, p.UID) + storage.VideosDir + x.Name + "/"
	}
	keys, err := s.store.List(ctx, prefix)
	if err != nil {
		return []string{err.Error()}
	}
	listed := map[string]string{}
	for _, a := range x.Status.Artifacts {
		listed[a.URI] = a.SHA256
	}
	var problems []string
	for _, k := range keys {
		uri := s.store.URI(k)
		sum, ok := listed[uri]
		delete(listed, uri)
		if !ok {
			problems = append(problems, "stored but not in status: "+k)
			continue
		}
		if got, err := s.sha256(ctx, k); err != nil || got != sum {
			problems = append(problems, fmt.Sprintf("%s: sha256 %s, status says %s (%v)", k, got, sum, err))
		}
		switch w, err := storage.Writer(ctx, s.store, k); {
		case err != nil:
			problems = append(problems, err.Error())
		case w == "":
			problems = append(problems, fmt.Sprintf("%s: stored with no writer recorded; status names %q", k, finalWriter(x)))
		case w != finalWriter(x):
			problems = append(problems, fmt.Sprintf("%s: written by %q; status names %q", k, w, finalWriter(x)))
		}
	}
	for uri := range listed {
		problems = append(problems, "in status but not stored: "+uri)
	}
	for _, l := range s.leftovers(ctx, prefix) {
		problems = append(problems, "left by an interrupted upload: "+l)
	}
	return problems
}

func (s *system) sha256(ctx context.Context, key string) (string, error) {
	rc, err := s.store.Open(ctx, key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// leftovers are what interrupted uploads left under prefix: temporary
// files, or open multipart uploads.
func (s *system) leftovers(ctx context.Context, prefix string) []string {
	var out []string
	if s.s3 {
		for u := range s3.Client().ListIncompleteUploads(ctx, s.ns, "ytx/"+prefix, true) {
			if u.Err != nil {
				return append(out, u.Err.Error())
			}
			out = append(out, "upload "+u.Key)
		}
		return out
	}
	root := strings.TrimPrefix(s.storage, "file://")
	filepath.WalkDir(filepath.Join(root, prefix), func(p string, d fs.DirEntry, err error) error { //nolint:errcheck
		if err == nil && !d.IsDir() && strings.HasSuffix(d.Name(), ".tmp") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// logProblems reads the workers' logs for doubled work on x: every file
// must be stored under the keys of the attempt it was stored for (so that
// no store can replace another attempt's file), and never while another
// process held that same attempt (a duplicate message run twice). (A
// handed-back attempt claimed again is one claim after the other, not two
// at once.)
func (s *system) logProblems(x *v1alpha1.YouTubeExtraction) []string {
	var problems []string
	claims, bad := s.book.of(x, workers.LogClaimed)
	problems = append(problems, bad...)
	stores, bad := s.book.of(x, workers.LogStored)
	problems = append(problems, bad...)
	for _, st := range stores {
		i := sort.Search(len(claims), func(i int) bool { return claims[i].ts.After(st.ts) }) - 1
		_, g, a, _ := jobOf(st)
		own := storage.AttemptPrefixIn(playlist.Parent(x), x.Namespace, x.Name, string(x.UID), storage.Attempt{Generation: g, Attempt: a})
		switch key := st.str(workers.KeyKey); {
		case i < 0:
			problems = append(problems, fmt.Sprintf("%s stored %s before any claim", st.proc, key))
		case !strings.HasPrefix(key, own):
			// Outside its attempt's own keys a store could replace what
			// another attempt stored: the fence would be a check again.
			problems = append(problems, fmt.Sprintf("%s stored %s for %q, outside that attempt's %s", st.proc, key, st.str(workers.KeyJob), own))
		case claims[i].str(workers.KeyJob) == st.str(workers.KeyJob) && claims[i].by != st.by:
			problems = append(problems, fmt.Sprintf("%s stored %s for %q while %s held that same attempt",
				st.proc, key, st.str(workers.KeyJob), claims[i].proc))
		}
		// A stale worker's late store under its own attempt's keys (its
		// upload was in flight when it lost the claim) replaces nothing;
		// storageProblems requires that it is gone by the end.
	}
	return problems
}

// missingEvidence lists what the workers' logs must show for x's outcome
// and do not, so that logProblems cannot pass by finding nothing: the claim
// of the attempt that status names, by status.worker, and for every entry
// of status.artifacts a "stored file" line of that claim's process with
// the same key and sha256. An extraction that no worker ran to the end
// (Failed by the manager, with no artifacts) owes nothing.
func (s *system) missingEvidence(x *v1alpha1.YouTubeExtraction) []string {
	if x.Status.Phase != v1alpha1.PhaseSucceeded && len(x.Status.Artifacts) == 0 {
		return nil
	}
	final := finalClaim(x)
	claims, _ := s.book.of(x, workers.LogClaimed)
	var claim *logLine
	for i := range claims {
		if claims[i].str(workers.KeyJob) == final && claims[i].proc == x.Status.Worker {
			claim = &claims[i]
		}
	}
	if claim == nil {
		return []string{fmt.Sprintf("no %q line for %s by %s", workers.LogClaimed, final, x.Status.Worker)}
	}
	stores, _ := s.book.of(x, workers.LogStored)
	var missing []string
	for _, a := range x.Status.Artifacts {
		key := storage.AttemptPrefixIn(playlist.Parent(x), x.Namespace, x.Name, string(x.UID), storage.Attempt{Generation: x.Status.ObservedGeneration, Attempt: x.Status.Attempts}) + path.Base(a.URI)
		if s.store.URI(key) != a.URI {
			missing = append(missing, fmt.Sprintf("status lists %s, which is not a file of %s", a.URI, jobName(x.Namespace, x.Name)))
			continue
		}
		found := false
		for _, st := range stores {
			if st.by == claim.by && st.str(workers.KeyJob) == final && st.str(workers.KeyKey) == key && st.str(workers.KeySHA256) == a.SHA256 {
				found = true
			}
		}
		if !found {
			missing = append(missing, fmt.Sprintf("no %q line for %s (sha256 %s) by %s's claim of %s", workers.LogStored, key, a.SHA256, claim.proc, final))
		}
	}
	return missing
}

// scratchLeft lists job directories left in live workers' scratch
// directories once everything has finished.
func (s *system) scratchLeft() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for name, dir := range s.scratch {
		if p := s.workers[name]; p == nil || !p.alive() {
			continue
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// describe is a one-line summary of a status for failure messages.
func describe(x *v1alpha1.YouTubeExtraction) string {
	if x == nil {
		return "(gone)"
	}
	var conds []string
	for _, c := range x.Status.Conditions {
		conds = append(conds, fmt.Sprintf("%s=%s(%s: %s)", c.Type, c.Status, c.Reason, c.Message))
	}
	last := ""
	if f := x.Status.LastFailure; f != nil {
		last = fmt.Sprintf(" lastFailure=%d/%s", f.Attempt, f.Reason)
	}
	return fmt.Sprintf("phase=%q attempts=%d worker=%q%s conditions=[%s]", x.Status.Phase, x.Status.Attempts, x.Status.Worker, last, strings.Join(conds, "; "))
}
