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
	"time"
)

// Sections of the report, in the order they are printed.
const (
	secOrchestration = "Orchestration"
	secWrites        = "Writes per extraction"
	secDownloads     = "Downloads"
	secScale         = "Scale"
	secResolvers     = "Resolvers"
	secWorker        = "Worker memory"
)

var sectionOrder = []string{secOrchestration, secWrites, secDownloads, secWorker, secResolvers, secScale}

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
		b.WriteString("## Goals\n\n| goal | this run | met |\n| --- | --- | --- |\n")
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

// writeReport writes md to path, followed by the hand-written part of the
// file already there.
func writeReport(path, md string) error {
	kept := "\n## What bounds it\n\nNot written yet.\n"
	old, err := os.ReadFile(path)
	switch {
	case err == nil:
		if _, rest, ok := strings.Cut(string(old), handWritten+"\n"); ok {
			kept = rest
		}
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(md+handWritten+"\n"+kept), 0o644)
}
