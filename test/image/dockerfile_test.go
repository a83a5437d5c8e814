// Package image checks the Dockerfile, since no image can be built where the
// tests run: its two targets (manager and worker), that every base is pinned
// to an exact version, that both run as a non-root user, what each image
// carries, and that the binary in both is the one `make build` makes. It also
// checks that the yt-dlp the worker image has finds the deno it has.
package image

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"sigs.k8s.io/yaml"
)

// root is the repository's root, from this package's directory.
var root = filepath.Join("..", "..")

// instr is one instruction of a stage.
type instr struct {
	cmd   string   // lower case: "run", "copy", ...
	flags []string // "--from=build"
	args  []string // the arguments; a shell-form RUN is one
	line  int
}

// flag returns the value of --name=value, or "".
func (i instr) flag(name string) string {
	for _, f := range i.flags {
		if v, ok := strings.CutPrefix(f, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

func (i instr) String() string {
	return fmt.Sprintf("line %d: %s %s", i.line, strings.ToUpper(i.cmd), strings.Join(append(slices.Clone(i.flags), i.args...), " "))
}

// stage is a FROM and the instructions under it.
type stage struct {
	name     string // after AS; "" when unnamed
	base     string // the image or earlier stage it starts from
	platform string // --platform of its FROM
	line     int
	instrs   []instr
}

func (s *stage) all(cmd string) []instr {
	var out []instr
	for _, i := range s.instrs {
		if i.cmd == cmd {
			out = append(out, i)
		}
	}
	return out
}

// dockerfile is a parsed Dockerfile: the ARGs before the first FROM, and
// the stages.
type dockerfile struct {
	globalArgs []instr
	stages     []*stage
}

func (d *dockerfile) stage(t *testing.T, name string) *stage {
	t.Helper()
	for _, s := range d.stages {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("the Dockerfile has no stage %q", name)
	return nil
}

// parseDockerfile parses the repository's Dockerfile with BuildKit's own
// parser (the one `docker buildx build` runs).
func parseDockerfile(t *testing.T) *dockerfile {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	for _, w := range res.Warnings {
		t.Errorf("Dockerfile: %s", w.Short)
	}
	d := &dockerfile{}
	for _, n := range res.AST.Children {
		i := instr{cmd: strings.ToLower(n.Value), flags: n.Flags, line: n.StartLine}
		for a := n.Next; a != nil; a = a.Next {
			i.args = append(i.args, a.Value)
		}
		if i.cmd == "from" {
			s := &stage{base: i.args[0], platform: i.flag("platform"), line: i.line}
			if len(i.args) == 3 && strings.EqualFold(i.args[1], "as") {
				s.name = i.args[2]
			}
			d.stages = append(d.stages, s)
			continue
		}
		if len(d.stages) == 0 {
			d.globalArgs = append(d.globalArgs, i)
			continue
		}
		s := d.stages[len(d.stages)-1]
		s.instrs = append(s.instrs, i)
	}
	if len(d.stages) == 0 {
		t.Fatal("the Dockerfile has no FROM")
	}
	return d
}

// finalTargets are the named stages no other stage starts from or copies
// from: the images the Dockerfile is for.
func (d *dockerfile) finalTargets() []string {
	used := map[string]bool{}
	for _, s := range d.stages {
		used[s.base] = true
		for _, c := range s.all("copy") {
			used[c.flag("from")] = true
		}
	}
	var out []string
	for _, s := range d.stages {
		if s.name != "" && !used[s.name] {
			out = append(out, s.name)
		}
	}
	return out
}

func TestDockerfileHasManagerAndWorkerTargets(t *testing.T) {
	d := parseDockerfile(t)
	if got := d.finalTargets(); !slices.Equal(got, []string{"manager", "worker"}) {
		t.Fatalf("the Dockerfile's final targets are %q, want manager and worker (`make docker-build` builds --target manager and --target worker)", got)
	}
}

var (
	// A version with three numbers (1.26.8, 24.19.0) or a date (Debian's
	// bookworm-20260803), as a whole word of the tag.
	exactVersion = regexp.MustCompile(`(^|[^0-9.])([0-9]+\.[0-9]+\.[0-9]+|20[0-9]{6})([^0-9.]|$)`)
	digest       = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)
)

// checkPinned is the pin rule: a base is an earlier stage, scratch (which
// is no image), a digest, or a tag that names an exact version, never a
// floating one (golang:1.26, debian:bookworm-slim, node:24, latest) that
// changes under the same Dockerfile. Variables are refused: a pin is read
// where it is written.
func checkPinned(ref string, stages map[string]bool) error {
	switch {
	case stages[ref], ref == "scratch", digest.MatchString(ref):
		return nil
	case strings.Contains(ref, "$"):
		return fmt.Errorf("FROM %s: write the image and its version in FROM, not in a variable", ref)
	}
	repo, tag, ok := strings.Cut(ref[strings.LastIndex(ref, "/")+1:], ":")
	if !ok || tag == "latest" {
		return fmt.Errorf("FROM %s: no version; pin an exact one, e.g. %s:1.2.3", ref, repo)
	}
	if !exactVersion.MatchString(tag) {
		return fmt.Errorf("FROM %s: tag %q floats (it moves to each new release); pin an exact version (x.y.z, or a dated tag such as bookworm-20260803-slim)", ref, tag)
	}
	return nil
}

func TestPinRule(t *testing.T) {
	stages := map[string]bool{"build": true}
	for ref, ok := range map[string]bool{
		"golang:1.26.8-bookworm":                    true,
		"debian:bookworm-20260803-slim":             true,
		"node:24.19.0-bookworm-slim":                true,
		"docker.io/library/node:24.19.0-slim":       true,
		"registry:5000/team/golang:1.26.8":          true,
		"scratch":                                   true,
		"build":                                     true,
		"debian@sha256:" + strings.Repeat("ab", 32): true,
		"golang:1.26-bookworm":                      false,
		"golang:1.26":                               false,
		"debian:bookworm-slim":                      false,
		"debian:12.15-slim":                         false,
		"node:24":                                   false,
		"node:lts-slim":                             false,
		"debian":                                    false,
		"debian:latest":                             false,
		"registry:5000/golang":                      false,
		"golang:${GO_VERSION}-bookworm":             false,
		"golang:1.26.8.1":                           false,
		"debian@sha256:abc":                         false,
	} {
		if err := checkPinned(ref, stages); (err == nil) != ok {
			t.Errorf("checkPinned(%q) = %v, want pinned %v", ref, err, ok)
		}
	}
}

func TestBaseImagesArePinned(t *testing.T) {
	d := parseDockerfile(t)
	stages := map[string]bool{}
	for _, s := range d.stages {
		if err := checkPinned(s.base, stages); err != nil {
			t.Errorf("line %d: %v", s.line, err)
		}
		stages[s.name] = true
	}

	// The build stage's Go is the minor version go.mod names, as the tests'.
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go ([0-9]+\.[0-9]+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	build := d.stage(t, "build")
	if !strings.HasPrefix(build.base, "golang:"+string(m[1])+".") {
		t.Errorf("line %d: the build stage starts from %s, want golang:%s.x (go.mod's go %s)", build.line, build.base, m[1], m[1])
	}
}

// checkNonRootUser is the user rule: a numeric uid other than 0 (and a
// numeric gid, if any), so that the kubelet can tell that runAsNonRoot
// holds without a passwd file, and the chart's runAsNonRoot starts it.
func checkNonRootUser(user string) error {
	uid, gid, hasGID := strings.Cut(user, ":")
	n, err := strconv.ParseUint(uid, 10, 32)
	if err != nil {
		return fmt.Errorf("USER %q: write a numeric uid (e.g. 65532:65532); the kubelet cannot check that a name is not root", user)
	}
	if n == 0 {
		return fmt.Errorf("USER %q is root; use an unprivileged uid such as 65532", user)
	}
	if hasGID {
		if _, err := strconv.ParseUint(gid, 10, 32); err != nil {
			return fmt.Errorf("USER %q: write a numeric gid", user)
		}
	}
	return nil
}

func TestUserRule(t *testing.T) {
	for user, ok := range map[string]bool{
		"65532:65532": true,
		"65532":       true,
		"1000:0":      true,
		"0":           false,
		"0:0":         false,
		"root":        false,
		"nobody":      false,
		"ytx:ytx":     false,
		"65532:ytx":   false,
		"":            false,
		"-1":          false,
	} {
		if err := checkNonRootUser(user); (err == nil) != ok {
			t.Errorf("checkNonRootUser(%q) = %v, want allowed %v", user, err, ok)
		}
	}
}

func TestImagesRunAsNonRoot(t *testing.T) {
	d := parseDockerfile(t)
	for _, name := range []string{"manager", "worker"} {
		s := d.stage(t, name)
		users := s.all("user")
		if len(users) == 0 {
			t.Errorf("target %s has no USER: it would run as root", name)
			continue
		}
		last := users[len(users)-1]
		if err := checkNonRootUser(strings.Join(last.args, " ")); err != nil {
			t.Errorf("target %s, %v", name, err)
		}
		// Nothing after USER runs as root: RUN would need it.
		for _, i := range s.instrs {
			if i.cmd == "run" && i.line > last.line {
				t.Errorf("target %s, %s: after USER, so not root; install before USER", name, i)
			}
		}
	}
}

// makeDryRun returns what make would run for the given targets, without
// running it.
func makeDryRun(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("make", append([]string{"--no-print-directory", "-n"}, args...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// makeVar is a simple variable of the Makefile (NAME := value).
func makeVar(t *testing.T, name string) string {
	t.Helper()
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + name + `\s*:?=\s*(\S+)\s*$`).FindSubmatch(mk)
	if m == nil {
		t.Fatalf("the Makefile sets no %s", name)
	}
	return string(m[1])
}

// The binary both images carry is bin/ytx as `make build` makes it (the
// build the tests run), cross-compiled for the image's platform, and it is
// what the images run.
func TestImagesCarryTheBinaryMakeBuildMakes(t *testing.T) {
	// What `make build` runs (-B: even when bin/ytx is up to date).
	build := makeDryRun(t, "-B", "build")
	m := regexp.MustCompile(`(?m)^CGO_ENABLED=0 go build .*-o (\S+) \./cmd/ytx$`).FindStringSubmatch(build)
	if m == nil {
		t.Fatalf("make build does not run `CGO_ENABLED=0 go build ... -o FILE ./cmd/ytx` (a static binary, which the manager's empty image needs); it runs:\n%s", build)
	}
	abs, _ := filepath.Abs(root)
	rel, err := filepath.Rel(abs, m[1])
	if err != nil || strings.HasPrefix(rel, "..") {
		t.Fatalf("make build writes %s, outside the source tree %s", m[1], abs)
	}

	d := parseDockerfile(t)
	b := d.stage(t, "build")
	if b.platform != "$BUILDPLATFORM" {
		t.Errorf("line %d: the build stage runs on --platform=%q, want $BUILDPLATFORM (it cross-compiles; emulating the target's platform would be slow)", b.line, b.platform)
	}
	var workdir string
	declared := map[string]bool{}
	built := false
	for _, i := range b.instrs {
		switch i.cmd {
		case "workdir":
			workdir = path.Join("/", workdir, i.args[0])
		case "arg":
			for _, a := range i.args {
				name, _, _ := strings.Cut(a, "=")
				declared[name] = true
			}
		case "run":
			run := strings.Join(i.args, " ")
			if !regexp.MustCompile(`(^|&& *)(\S+=\S+ +)*make build$`).MatchString(run) {
				continue
			}
			built = true
			for _, v := range []string{"GOOS=$TARGETOS", "GOARCH=$TARGETARCH"} {
				if !strings.Contains(run, v) {
					t.Errorf("%s: no %s, so it builds for the builder's platform, not the image's", i, v)
				}
			}
			for _, a := range []string{"TARGETOS", "TARGETARCH"} {
				if !declared[a] {
					t.Errorf("%s: ARG %s is not declared before it, so it is empty", i, a)
				}
			}
		}
	}
	if !built {
		t.Fatalf("the build stage does not RUN `make build`")
	}
	want := path.Join(workdir, filepath.ToSlash(rel))

	for _, name := range []string{"manager", "worker"} {
		s := d.stage(t, name)
		if s.platform != "" {
			t.Errorf("target %s: FROM --platform=%s; the image must be of the target's platform", name, s.platform)
		}
		var ytx string
		for _, c := range s.all("copy") {
			if c.flag("from") == "build" && len(c.args) == 2 && c.args[0] == want {
				ytx = c.args[1]
			}
		}
		if ytx == "" {
			t.Errorf("target %s does not COPY --from=build %s (what make build writes)", name, want)
			continue
		}
		eps := s.all("entrypoint")
		if len(eps) == 0 || !slices.Equal(eps[len(eps)-1].args, []string{ytx}) {
			t.Errorf("target %s: ENTRYPOINT %v, want [%q], the binary it copies", name, eps, ytx)
		}
		// test/chartrun runs the chart's containers as /usr/local/bin/ytx.
		if ytx != "/usr/local/bin/ytx" {
			t.Errorf("target %s puts ytx at %s; the chart's tests take it to be /usr/local/bin/ytx", name, ytx)
		}
	}
}

// mentions reports the first instruction of s that names one of words.
func mentions(s *stage, words ...string) (instr, string, bool) {
	for _, i := range s.instrs {
		text := strings.Join(append(slices.Clone(i.flags), i.args...), " ")
		for _, w := range words {
			if regexp.MustCompile(`(^|[^a-z-])` + regexp.QuoteMeta(w) + `([^a-z-]|$)`).MatchString(text) {
				return i, w, true
			}
		}
	}
	return instr{}, "", false
}

// The manager's image is bin/ytx and what it needs of a system (the CA
// bundle, a passwd entry), nothing more: no ffmpeg, yt-dlp, deno, Python
// or Debian.
func TestManagerImageHasNoMediaTools(t *testing.T) {
	d := parseDockerfile(t)
	s := d.stage(t, "manager")
	if s.base != "scratch" {
		t.Errorf("line %d: the manager starts from %s, want scratch (it runs no other program)", s.line, s.base)
	}
	if i, w, ok := mentions(s, "ffmpeg", "ffprobe", "yt-dlp", "deno", "python3"); ok {
		t.Errorf("target manager, %s: brings %s into the manager", i, w)
	}
	allowed := map[string]bool{"/etc/ssl/certs/ca-certificates.crt": true, "/etc/passwd": true, "/etc/group": true, "/usr/local/bin/ytx": true}
	for _, i := range s.instrs {
		switch i.cmd {
		case "copy":
			if dst := i.args[len(i.args)-1]; !allowed[dst] {
				t.Errorf("target manager, %s: copies %s, which the manager does not need", i, dst)
			}
		case "run", "add":
			t.Errorf("target manager, %s: the manager's image only copies files", i)
		}
	}
	if len(s.all("copy")) != len(allowed) {
		t.Errorf("target manager copies %d files, want the %d it needs: %v", len(s.all("copy")), len(allowed), s.all("copy"))
	}
}

// The worker's image has ffmpeg from Debian, and yt-dlp and deno installed
// by the scripts and versions `make tools` uses.
func TestWorkerImageHasMediaTools(t *testing.T) {
	d := parseDockerfile(t)
	w := d.stage(t, "worker")

	ffmpeg := false
	for _, i := range w.all("run") {
		for _, cmd := range strings.Split(strings.Join(i.args, " "), "&&") {
			f := strings.Fields(cmd)
			if slices.Contains(f, "apt-get") && slices.Contains(f, "install") && slices.Contains(f, "ffmpeg") {
				ffmpeg = true
			}
		}
	}
	if !ffmpeg {
		t.Error("target worker does not apt-get install ffmpeg")
	}

	// yt-dlp: hack/install-yt-dlp.sh, run in the worker, at the Makefile's version.
	checkScript(t, "yt-dlp", w, "hack/install-yt-dlp.sh")
	checkVersionArg(t, w, "YTDLP_VERSION", makeVar(t, "YTDLP_VERSION"))

	// deno: hack/install-deno.sh, in a stage the worker copies deno from.
	var from *stage
	var deno instr
	for _, c := range w.all("copy") {
		if len(c.args) == 2 && c.args[1] == "/usr/local/bin/deno" && c.flag("from") != "" {
			from, deno = d.stage(t, c.flag("from")), c
		}
	}
	if from == nil {
		t.Fatal("target worker copies no /usr/local/bin/deno from a stage")
	}
	run := checkScript(t, "deno", from, "hack/install-deno.sh")
	if f := strings.Fields(run); len(f) < 2 || path.Join(f[len(f)-1], "deno") != deno.args[0] {
		t.Errorf("%s: copies %s, but stage %s runs `%s`", deno, deno.args[0], from.name, run)
	}
	checkVersionArg(t, from, "DENO_VERSION", makeVar(t, "DENO_VERSION"))
	// A stage on the builder's platform must ask for the target's binary,
	// or an arm64 image would get the amd64 deno.
	if strings.Contains(from.platform, "BUILDPLATFORM") {
		asked := false
		for _, i := range from.all("run") {
			asked = asked || strings.Contains(strings.Join(i.args, " "), "DENO_ARCH=$TARGETARCH")
		}
		if !asked {
			t.Errorf("stage %s runs on $BUILDPLATFORM but does not run install-deno.sh with DENO_ARCH=$TARGETARCH", from.name)
		}
	}
}

// checkScript checks that s copies script into the image and runs it, and
// that `make target` runs the same script; it returns the RUN's command.
func checkScript(t *testing.T, target string, s *stage, script string) string {
	t.Helper()
	if !strings.Contains(makeDryRun(t, target), script) {
		t.Errorf("make %s does not run %s, so the image and the tests could differ", target, script)
	}
	var dst string
	for _, c := range s.all("copy") {
		if c.flag("from") == "" && len(c.args) == 2 && c.args[0] == script {
			dst = c.args[1]
		}
	}
	if dst == "" {
		t.Errorf("stage %s does not COPY %s", s.name, script)
		return ""
	}
	for _, i := range s.all("run") {
		for _, cmd := range strings.Split(strings.Join(i.args, " "), "&&") {
			f := strings.Fields(cmd)
			// Environment assignments before the command (NAME=value).
			for len(f) > 0 && envAssignment.MatchString(f[0]) {
				f = f[1:]
			}
			if len(f) > 0 && (f[0] == dst || f[0] == path.Base(dst) && path.Dir(dst) == "/usr/local/bin") {
				return strings.Join(f, " ")
			}
		}
	}
	t.Errorf("stage %s copies %s to %s but does not run it", s.name, script, dst)
	return ""
}

var envAssignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// checkVersionArg checks that stage s declares ARG name=want (RUN sees an
// ARG as an environment variable, and the scripts read their version from
// it).
func checkVersionArg(t *testing.T, s *stage, name, want string) {
	t.Helper()
	for _, a := range s.all("arg") {
		for _, v := range a.args {
			if n, val, _ := strings.Cut(v, "="); n == name {
				if val != want {
					t.Errorf("stage %s, %s: %s is %q, the Makefile's is %q; keep them equal", s.name, a, name, val, want)
				}
				return
			}
		}
	}
	t.Errorf("stage %s declares no ARG %s=%s (the Makefile's)", s.name, name, want)
}

// `make docker-build` names the images as the chart pulls them by default:
// image.repository with -manager and -worker, at the chart's appVersion.
func TestDockerBuildNamesTheChartsImages(t *testing.T) {
	var values struct {
		Image struct{ Repository, Tag string }
	}
	var chart struct{ AppVersion string }
	for file, v := range map[string]any{"charts/ytx/values.yaml": &values, "charts/ytx/Chart.yaml": &chart} {
		b, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	if values.Image.Repository == "" || chart.AppVersion == "" {
		t.Fatalf("the chart names no image.repository (%q) or appVersion (%q)", values.Image.Repository, chart.AppVersion)
	}
	tag := chart.AppVersion
	if values.Image.Tag != "" {
		tag = values.Image.Tag
	}
	out := makeDryRun(t, "docker-build")
	for _, target := range []string{"manager", "worker"} {
		want := fmt.Sprintf("--target %s -t %s-%s:%s ", target, values.Image.Repository, target, tag)
		if !strings.Contains(out, want) {
			t.Errorf("make docker-build does not build %q; it runs:\n%s", want, out)
		}
	}
	// IMAGE and TAG name other images.
	out = makeDryRun(t, "docker-build", "IMAGE=registry.example:5000/me/ytx", "TAG=9.9.9")
	for _, target := range []string{"manager", "worker"} {
		if want := "-t registry.example:5000/me/ytx-" + target + ":9.9.9 "; !strings.Contains(out, want) {
			t.Errorf("make docker-build IMAGE=... TAG=... does not tag %q; it runs:\n%s", want, out)
		}
	}
}

// The worker image's yt-dlp finds its deno (yt-dlp needs a JavaScript
// runtime for YouTube's web player, and ignores a deno it does not
// support): the versions the Makefile and the Dockerfile pin, installed by
// `make tools` into bin/ and from Debian.
func TestWorkerYtdlpFindsDeno(t *testing.T) {
	want := makeVar(t, "DENO_VERSION")
	bin, _ := filepath.Abs(filepath.Join(root, "bin"))
	if _, err := os.Stat(filepath.Join(bin, "deno")); err != nil {
		t.Fatalf("no bin/deno: run make deno (make tools does): %v", err)
	}
	ytdlp, err := exec.LookPath("yt-dlp")
	if err != nil {
		t.Fatalf("no yt-dlp: run make yt-dlp (make tools does): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// No URL: yt-dlp prints its debug header, then fails for want of one.
	cmd := exec.CommandContext(ctx, ytdlp, "--ignore-config", "--no-plugin-dirs", "--verbose")
	cmd.Env = append(os.Environ(), "PATH="+bin+string(filepath.ListSeparator)+os.Getenv("PATH"))
	out, _ := cmd.CombinedOutput()
	m := regexp.MustCompile(`(?m)^\[debug\] JS runtimes: (.*)$`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("yt-dlp --verbose printed no JS runtimes line:\n%s", out)
	}
	if !slices.Contains(strings.Split(string(m[1]), ", "), "deno-"+want) {
		t.Errorf("yt-dlp's JS runtimes are %q, want deno-%s (bin/deno): this yt-dlp does not take this deno", m[1], want)
	}
}
