package faults

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"ytx.dev/ytx/config"
	"ytx.dev/ytx/test/internal/freeport"
	"ytx.dev/ytx/test/internal/tail"
	"ytx.dev/ytx/workers"
)

// controlPlane is kube-apiserver and etcd as envtest runs them, with a
// fixed certificate directory so that the API server can be stopped and
// started again on the same port with the same certificates while etcd
// keeps running: clients' kubeconfigs stay valid across the restart.
type controlPlane struct {
	env        *envtest.Environment
	config     *rest.Config
	kubeconfig string // a cluster administrator's, for the ytx processes
}

func startControlPlane(assets, dir string) (*controlPlane, error) {
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return nil, fmt.Errorf("no kube-apiserver in %s: run `make tools`", assets)
	}
	crds, err := config.CRDs()
	if err != nil {
		return nil, err
	}
	certs := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certs, 0o700); err != nil {
		return nil, err
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets, CRDInstallOptions: envtest.CRDInstallOptions{CRDs: crds}}
	env.ControlPlane.GetAPIServer().CertDir = certs
	cfg, err := env.Start()
	if err != nil {
		// envtest leaves the API server and etcd running when what fails
		// comes after them (installing the CRDs).
		env.Stop() //nolint:errcheck // best effort: the error to report is Start's
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	p := &controlPlane{env: env, config: cfg, kubeconfig: filepath.Join(dir, "kubeconfig")}
	user, err := env.AddUser(envtest.User{Name: "ytx", Groups: []string{"system:masters"}}, nil)
	if err == nil {
		var data []byte
		if data, err = user.KubeConfig(); err == nil {
			err = os.WriteFile(p.kubeconfig, data, 0o600)
		}
	}
	if err != nil {
		env.Stop() //nolint:errcheck
		return nil, err
	}
	return p, nil
}

// restartAPIServer kills kube-apiserver (kill -9: a crash; etcd stays),
// waits down, and starts it again on the same port. It returns how long
// the API server was away.
func (p *controlPlane) restartAPIServer(down time.Duration) (time.Duration, error) {
	s := p.env.ControlPlane.GetAPIServer()
	began := time.Now()
	pid, err := pidOf("kube-apiserver", s.CertDir)
	if err != nil {
		return 0, err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return 0, err
	}
	for syscall.Kill(pid, 0) == nil && time.Since(began) < 10*time.Second {
		time.Sleep(20 * time.Millisecond) // until envtest has reaped it
	}
	if err := s.Stop(); err != nil { // reaps; the process is gone
		return 0, err
	}
	time.Sleep(down)
	if err := s.Start(); err != nil {
		return 0, err
	}
	return time.Since(began), nil
}

// pidOf finds the process running program whose command line mentions
// marker (envtest does not tell its children's PIDs).
func pidOf(program, marker string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if filepath.Base(args[0]) == program && strings.Contains(string(cmdline), marker) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no %s process with %s on its command line", program, marker)
}

func (p *controlPlane) stop() { p.env.Stop() } //nolint:errcheck // best effort on the way out

// brokerProcess is the Kafka broker, a process of its own with its state
// on disk, killed and restarted on the same address by scenarios.
type brokerProcess struct {
	bin, dir, addr string
	p              *process
}

func startBroker(bin, dir string) (*brokerProcess, error) {
	port, err := freeport.Get()
	if err != nil {
		return nil, err
	}
	b := &brokerProcess{bin: bin, dir: dir, addr: "127.0.0.1:" + strconv.Itoa(port)}
	return b, b.start()
}

func (b *brokerProcess) start() error {
	p, err := startProcess("kafka", b.bin, []string{"--listen", b.addr, "--data-dir", b.dir}, os.Environ(), nil)
	if err != nil {
		return err
	}
	b.p = p
	// kafkabroker prints "listening ADDR" once it accepts connections.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.out.String(), "listening") {
		if !p.alive() || time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("the Kafka broker did not start on %s: %s", b.addr, p.out.Last(10))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func (b *brokerProcess) close() {
	if b.p != nil {
		b.p.kill()
	}
}

// process is a child process whose output is kept: the end of it for
// failure messages, and every JSON log line in a shared logBook.
type process struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	out     *tail.Buffer
	done    chan struct{}
	err     error     // of Wait, once done is closed
	exited  time.Time // once done is closed
	// clientID is a worker's Kafka client ID ("" for other processes),
	// sessionTimeout its --kafka-session-timeout.
	clientID       string
	sessionTimeout time.Duration
	// stopped: the scenario ended it on purpose (kill, SIGTERM); any
	// other exit is a crash.
	stopped bool
}

func startProcess(name, bin string, args, env []string, book *logBook) (*process, error) {
	p := &process{name: name, started: time.Now(), out: &tail.Buffer{Max: 256 << 10}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	// A suite killed by its timeout must not leave brokers and managers
	// running on this machine.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	var reading sync.WaitGroup
	reading.Add(1)
	go func() {
		defer reading.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			p.out.Write(append(line, '\n')) //nolint:errcheck
			if book != nil {
				book.add(p, line)
			}
		}
		io.Copy(io.Discard, pr) //nolint:errcheck // a line too long: drain
	}()
	go func() {
		p.err = p.cmd.Wait()
		p.exited = time.Now()
		pw.Close()
		reading.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *process) signal(sig syscall.Signal) {
	if p.alive() {
		p.cmd.Process.Signal(sig) //nolint:errcheck // it may have just exited
	}
}

// kill is kill -9, and waits for the process to be gone.
func (p *process) kill() {
	p.stopped = true
	p.signal(syscall.SIGKILL)
	<-p.done
}

// terminate sends SIGTERM, as the kubelet does, and waits up to limit for
// the exit; it returns how long the process took, or an error.
func (p *process) terminate(limit time.Duration) (time.Duration, error) {
	began := time.Now()
	p.stopped = true
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			return time.Since(began), fmt.Errorf("%s exited with %v after SIGTERM:\n%s", p.name, p.err, p.out.Last(15))
		}
		return time.Since(began), nil
	case <-time.After(limit):
		p.kill()
		return time.Since(began), fmt.Errorf("%s still ran %s after SIGTERM:\n%s", p.name, limit, p.out.Last(15))
	}
}

// peakRSS is the most resident memory the process has used (VmHWM), in
// bytes, read while it runs. Not knowing is an error, never 0: a limit
// held against 0 always passes.
func (p *process) peakRSS() (int64, error) {
	if !p.alive() {
		return 0, fmt.Errorf("%s has exited (%v): its peak RSS is gone with it", p.name, p.err)
	}
	status := fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)
	data, err := os.ReadFile(status)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil || kb <= 0 {
				return 0, fmt.Errorf("%s: cannot read %q as kB (%v)", status, line, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("%s has no VmHWM line", status)
}

// logLine is one JSON log line of a ytx process (zap's encoding).
type logLine struct {
	proc   string   // the process's name, kept across restarts
	by     *process // the process itself
	ts     time.Time
	msg    string
	fields map[string]any
}

func (l logLine) str(key string) string {
	s, _ := l.fields[key].(string)
	return s
}

// logBook collects the log lines of every ytx process of a scenario.
type logBook struct {
	mu    sync.Mutex
	lines []logLine
}

func (b *logBook) add(p *process, raw []byte) {
	if !bytes.HasPrefix(raw, []byte("{")) {
		return
	}
	var fields map[string]any
	if json.Unmarshal(raw, &fields) != nil {
		return
	}
	l := logLine{proc: p.name, by: p, fields: fields}
	l.msg, _ = fields["msg"].(string)
	if ts, ok := fields["ts"].(float64); ok {
		l.ts = time.Unix(0, int64(ts*float64(time.Second)))
	}
	b.mu.Lock()
	b.lines = append(b.lines, l)
	b.mu.Unlock()
}

// with returns the lines whose message is msg and whose string fields
// match the key, value pairs given.
func (b *logBook) with(msg string, kv ...string) []logLine {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []logLine
next:
	for _, l := range b.lines {
		if l.msg != msg {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if l.str(kv[i]) != kv[i+1] {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

// endedBy reports whether process p logged the end of the job it claimed
// in line claim (LogEnded, LogAbandoned or LogAbandonedAtEnd, after it).
func (b *logBook) endedBy(p *process, claim logLine) bool {
	for _, msg := range []string{workers.LogEnded, workers.LogAbandoned, workers.LogAbandonedAtEnd} {
		for _, l := range b.from(p, msg) {
			if l.str(workers.KeyJob) == claim.str(workers.KeyJob) && !l.ts.Before(claim.ts) {
				return true
			}
		}
	}
	return false
}

// from returns the lines with message msg that process p logged (not
// those of another process of the same name).
func (b *logBook) from(p *process, msg string) []logLine {
	var out []logLine
	for _, l := range b.with(msg) {
		if l.by == p {
			out = append(out, l)
		}
	}
	return out
}
