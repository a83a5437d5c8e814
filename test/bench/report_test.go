package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Sections of the report, in the order they are printed.
const (
	secOrchestration = "Orchestration"
	secWrites        = "Writes per extraction"
	secChannel       = "Channel"
	secDownloads     = "Downloads"
	secScale         = "Scale"
	secResolvers     = "Resolvers"
	secWorker        = "Worker memory"
	secGoals         = "Goals"
	// `make bench-scale` writes these two, and only these.
	secScaleRuns  = "Scale (make bench-scale)"
	secScaleSlope = "Scale: cost per extraction"
)

var sectionOrder = []string{secOrchestration, secWrites, secChannel, secDownloads, secWorker, secResolvers, secScale, secScaleRuns, secScaleSlope}

// standalone are the sections a run that did not write them keeps from the
// report already there, each row with its own date and commit: `make bench`
// keeps those of `make bench-scale`, and a run of only standalone sections
// (`make bench-scale`, or BenchmarkChannel alone) keeps everything else
// (with the header).
var standalone = map[string]bool{secScaleRuns: true, secScaleSlope: true, secChannel: true}

// results is the report that the benchmarks fill and TestMain prints.
var results report

type report struct {
	mu       sync.Mutex
	began    time.Time
	loadFrom string
	tables   map[string]*table
	goals    []goal
}

// table is one section: a markdown table and the notes under it, which
// say how its figures are measured.
type table struct {
	columns []string
	rows    [][]string
	notes   []string
}

// goal is one of the goals, with what this run measured.
type goal struct {
	what, measured string
	met            bool
}

func (r *report) start() {
	r.began = time.Now()
	r.loadFrom = loadAverage()
	r.tables = map[string]*table{}
}

func (r *report) empty() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.tables) == 0 && len(r.goals) == 0
}

// section returns the table of a section, made with columns on first use.
func (r *report) section(name string, columns ...string) *table {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tables[name]
	if t == nil {
		t = &table{columns: columns}
		r.tables[name] = t
	}
	return t
}

// row adds a row to a section; cells are formatted with fmt's %v, floats
// with cell.
func (r *report) row(section string, columns []string, cells ...any) {
	t := r.section(section, columns...)
	r.mu.Lock()
	defer r.mu.Unlock()
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = cell(c)
	}
	t.rows = append(t.rows, row)
}

// note adds a line under a section's table, once.
func (r *report) note(section, format string, args ...any) {
	t := r.section(section)
	r.mu.Lock()
	defer r.mu.Unlock()
	line := fmt.Sprintf(format, args...)
	for _, n := range t.notes {
		if n == line {
			return
		}
	}
	t.notes = append(t.notes, line)
}

func (r *report) goal(what string, met bool, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.goals = append(r.goals, goal{what: what, met: met, measured: fmt.Sprintf(format, args...)})
}

func cell(v any) string {
	switch x := v.(type) {
	case float64:
		switch {
		case x == 0:
			return "0"
		case x >= 100 || x <= -100:
			return fmt.Sprintf("%.0f", x)
		case x >= 10 || x <= -10:
			return fmt.Sprintf("%.1f", x)
		}
		return fmt.Sprintf("%.2f", x)
	case time.Duration:
		return seconds(x)
	}
	return fmt.Sprint(v)
}

// seconds writes d in seconds with two significant decimals at most.
func seconds(d time.Duration) string {
	s := d.Seconds()
	switch {
	case s >= 100:
		return fmt.Sprintf("%.0f s", s)
	case s >= 10:
		return fmt.Sprintf("%.1f s", s)
	}
	return fmt.Sprintf("%.2f s", s)
}

// markdown is the whole report.
func (r *report) markdown() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	b.WriteString("# Benchmarks\n\n")
	fmt.Fprintf(&b, "Written by `make bench` (test/bench) on %s, in %s.\n\n", r.began.UTC().Format("2006-01-02 15:04 MST"), time.Since(r.began).Round(time.Second))
	for _, line := range machine() {
		b.WriteString("- " + line + "\n")
	}
	fmt.Fprintf(&b, "- Load average (1, 5, 15 min) at the start: %s; at the end: %s. Other programs share this machine: figures move with them.\n\n", r.loadFrom, loadAverage())
	for _, name := range sectionOrder {
		t := r.tables[name]
		if t == nil || len(t.rows) == 0 {
			continue
		}
		fmt.Fprintf(&b, "## %s\n\n", name)
		t.write(&b)
	}
	if len(r.goals) > 0 {
		b.WriteString("## " + secGoals + "\n\n| goal | this run | met |\n| --- | --- | --- |\n")
		for _, g := range r.goals {
			met := "no"
			if g.met {
				met = "yes"
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", g.what, g.measured, met)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (t *table) write(b *strings.Builder) {
	b.WriteString("| " + strings.Join(t.columns, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat(" --- |", len(t.columns)) + "\n")
	for _, row := range t.rows {
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	b.WriteString("\n")
	for _, n := range t.notes {
		b.WriteString(n + "\n")
	}
	if len(t.notes) > 0 {
		b.WriteString("\n")
	}
}

// machine describes where the run ran: CPU, cores, memory, Go, commit.
func machine() []string {
	return []string{
		fmt.Sprintf("Machine: %s, %d cores, %s memory, %s", cpuModel(), runtime.NumCPU(), memTotal(), kernel()),
		"Go: " + runtime.Version(),
		"Commit: " + commit(),
	}
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func memTotal() string {
	kb, err := procField("/proc/meminfo", "MemTotal")
	if err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<30))
}

func kernel() string {
	data, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return runtime.GOOS
	}
	return "Linux " + strings.TrimSpace(string(data))
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

// commit is `git rev-parse --short HEAD`, with "(dirty)" when the work
// tree differs from it.
func commit() string {
	out, err := exec.Command("git", "-C", repoRoot, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", repoRoot, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		c += " (dirty)"
	}
	return c
}

// handWritten marks where the generated part of the report ends. What
// follows it in an existing report is kept: the analysis written by hand.
const handWritten = "<!-- make bench writes everything above this line and keeps what follows it, which is written by hand. -->"

// writeReport writes md to path, merged with the generated sections of the
// file already there that this run did not write (see standalone), and
// followed by its hand-written part.
func writeReport(path, md string) error {
	kept := "\n## What bounds it\n\nNot written yet.\n"
	old, err := os.ReadFile(path)
	switch {
	case err == nil:
		if generated, rest, ok := strings.Cut(string(old), handWritten+"\n"); ok {
			md, kept = mergeReports(generated, md), rest
		}
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(md+handWritten+"\n"+kept), 0o644)
}

// mergeReports returns the report md with the sections of the report old
// that it does not have and must keep: the standalone ones, or, when md
// has only standalone sections, every other one and old's header too.
func mergeReports(old, md string) string {
	oldHead, oldSections := splitSections(old)
	head, sections := splitSections(md)
	partial := true
	for name := range sections {
		partial = partial && standalone[name]
	}
	if partial && oldHead != "" {
		head = oldHead
	}
	var b strings.Builder
	b.WriteString(head)
	for _, name := range append(sectionOrder, secGoals) {
		if s, ok := sections[name]; ok {
			b.WriteString(s)
		} else if s, ok := oldSections[name]; ok && (partial || standalone[name]) {
			b.WriteString(s)
		}
	}
	return b.String()
}

// splitSections cuts a generated report into what comes before its first
// "## " heading and its sections by name, each from its heading on.
func splitSections(md string) (head string, sections map[string]string) {
	sections = map[string]string{}
	var name string
	var cur strings.Builder
	flush := func() {
		if name == "" {
			head = cur.String()
		} else {
			sections[name] = cur.String()
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(md, "\n") {
		if title, ok := strings.CutPrefix(line, "## "); ok {
			flush()
			name = strings.TrimSpace(title)
		}
		cur.WriteString(line)
	}
	flush()
	return head, sections
}

// TestWriteReportKeepsTheOtherTarget checks that `make bench` and `make
// bench-scale`, writing the same file in turns, keep each other's sections
// and the hand-written part.
func TestWriteReportKeepsTheOtherTarget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	bench := func(day string) string {
		return "# Benchmarks\n\nWritten by `make bench` on " + day + ".\n\n## Orchestration\n\nrow of " + day + "\n\n## Scale\n\n10000 on " + day + "\n\n## Goals\n\ngoal of " + day + "\n\n"
	}
	scale := "# Benchmarks\n\nWritten by `make bench` on day 2.\n\n## " + secScaleRuns + "\n\n100000 on day 2\n\n## " + secScaleSlope + "\n\nslope on day 2\n\n"
	tail := handWritten + "\n\n## What bounds it\n\nBy hand.\n"
	steps := []struct{ run, md, want string }{
		{"make bench", bench("day 1"), bench("day 1")},
		{"make bench-scale", scale, "# Benchmarks\n\nWritten by `make bench` on day 1.\n\n## Orchestration\n\nrow of day 1\n\n## Scale\n\n10000 on day 1\n\n" +
			"## " + secScaleRuns + "\n\n100000 on day 2\n\n## " + secScaleSlope + "\n\nslope on day 2\n\n## Goals\n\ngoal of day 1\n\n"},
		{"make bench", bench("day 3"), "# Benchmarks\n\nWritten by `make bench` on day 3.\n\n## Orchestration\n\nrow of day 3\n\n## Scale\n\n10000 on day 3\n\n" +
			"## " + secScaleRuns + "\n\n100000 on day 2\n\n## " + secScaleSlope + "\n\nslope on day 2\n\n## Goals\n\ngoal of day 3\n\n"},
	}
	for i, step := range steps {
		if err := writeReport(path, step.md); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			// What the first run leaves below the line is edited by hand.
			data = []byte(strings.Replace(string(data), "Not written yet.", "By hand.", 1))
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := string(data), step.want+tail; got != want {
			t.Errorf("after %s (step %d):\n%s\nwant:\n%s", step.run, i+1, got, want)
		}
	}
}
