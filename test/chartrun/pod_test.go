package chartrun

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// pod is what the kubelet would make of one container of a rendered
// Deployment or CronJob, on this machine: its command line and environment
// with every reference resolved, and a directory standing for each volume
// it mounts.
type pod struct {
	name      string // the made-up pod name (metadata.name)
	namespace string
	owner     *workload
	container *corev1.Container
	// args follow the image's entrypoint (command, if the chart sets one,
	// is checked and dropped: bin/ytx stands for the image's ytx).
	args []string
	// env in the order the kubelet builds it: envFrom, then env.
	env []envVar
	// mounts maps each mountPath to the directory that stands for it.
	mounts map[string]string
}

type envVar struct{ name, value string }

// envMap is the environment as a map (a later entry wins, as in a
// container).
func (p *pod) envMap() map[string]string {
	m := map[string]string{}
	for _, e := range p.env {
		m[e.name] = e.value
	}
	return m
}

// podEnv resolves pods of one release.
type podEnv struct {
	ns     string
	render *render
	// secrets reads a Secret of the release namespace; nil resolves no
	// Secret (volumes and references to Secrets are left out).
	secrets func(name string) (*corev1.Secret, error)
	// claims maps a PersistentVolumeClaim name to the directory that
	// stands for it, shared by every pod that mounts it.
	claims map[string]string
	// tmp makes directories for emptyDirs and Secret volumes.
	tmp func() string
}

// secretFromAPI reads Secrets from the API server, where the test put what
// Strimzi would have made.
func secretFromAPI(ctx context.Context, ns string) func(string) (*corev1.Secret, error) {
	return func(name string) (*corev1.Secret, error) {
		var s corev1.Secret
		if err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
			return nil, err
		}
		return &s, nil
	}
}

// resolve builds the pod of one container of w's pods.
func (pe *podEnv) resolve(t *testing.T, w *workload, containerName, podName string) *pod {
	t.Helper()
	c := container(t, w, containerName)
	p := &pod{name: podName, namespace: pe.ns, owner: w, container: c, mounts: map[string]string{}}
	spec := &w.template.Spec

	if len(c.Command) > 0 {
		// The image's entrypoint is /usr/local/bin/ytx; a chart that sets
		// command must still run ytx.
		if filepath.Base(c.Command[0]) != "ytx" {
			t.Fatalf("container %s of %s runs %q, not ytx", c.Name, w, c.Command)
		}
		p.args = append(p.args, c.Command[1:]...)
	}

	// Environment: envFrom first, then env, each value expanded against
	// what came before it.
	env := map[string]string{}
	set := func(name, value string) {
		p.env = append(p.env, envVar{name, value})
		env[name] = value
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.SecretRef != nil:
			s := pe.secret(t, from.SecretRef.Name, from.SecretRef.Optional, "envFrom of "+c.Name)
			if s == nil {
				continue
			}
			for _, k := range mapKeys(s.Data) {
				set(from.Prefix+k, string(s.Data[k]))
			}
		case from.ConfigMapRef != nil:
			cm := pe.configMap(t, from.ConfigMapRef.Name, from.ConfigMapRef.Optional)
			if cm == nil {
				continue
			}
			for _, k := range mapKeys(cm.Data) {
				set(from.Prefix+k, cm.Data[k])
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, env))
			continue
		}
		v, ok := pe.valueFrom(t, p, e)
		if ok {
			set(e.Name, v)
		}
	}
	for _, a := range c.Args {
		p.args = append(p.args, expand(a, env))
	}

	// Volumes.
	vols := map[string]*corev1.Volume{}
	for i := range spec.Volumes {
		vols[spec.Volumes[i].Name] = &spec.Volumes[i]
	}
	for _, m := range c.VolumeMounts {
		v := vols[m.Name]
		if v == nil {
			t.Fatalf("container %s of %s mounts volume %q that the pod does not declare", c.Name, w, m.Name)
		}
		dir := pe.volume(t, w, v)
		if dir == "" {
			continue
		}
		if m.SubPath != "" {
			dir = filepath.Join(dir, m.SubPath)
		}
		p.mounts[m.MountPath] = dir
	}
	return p
}

// valueFrom resolves one env entry's valueFrom; false if an optional
// reference is missing.
func (pe *podEnv) valueFrom(t *testing.T, p *pod, e corev1.EnvVar) (string, bool) {
	t.Helper()
	from := e.ValueFrom
	switch {
	case from.FieldRef != nil:
		return fieldRef(t, p, from.FieldRef.FieldPath), true
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		s := pe.secret(t, ref.Name, ref.Optional, "env "+e.Name)
		if s == nil {
			return "", false
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			if ref.Optional != nil && *ref.Optional {
				return "", false
			}
			t.Fatalf("env %s of %s: Secret %s has no key %q (keys: %v): the pod would not start", e.Name, p.container.Name, ref.Name, ref.Key, mapKeys(s.Data))
		}
		return string(v), true
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		cm := pe.configMap(t, ref.Name, ref.Optional)
		if cm == nil {
			return "", false
		}
		v, ok := cm.Data[ref.Key]
		if !ok && (ref.Optional == nil || !*ref.Optional) {
			t.Fatalf("env %s: ConfigMap %s has no key %q: the pod would not start", e.Name, ref.Name, ref.Key)
		}
		return v, ok
	case from.ResourceFieldRef != nil:
		return resourceField(t, p.container, from.ResourceFieldRef), true
	}
	t.Fatalf("env %s of %s: unsupported valueFrom %+v", e.Name, p.container.Name, from)
	return "", false
}

// fieldRef is the downward API for the made-up pod.
func fieldRef(t *testing.T, p *pod, path string) string {
	t.Helper()
	tmpl := p.owner.template
	switch path {
	case "metadata.name":
		return p.name
	case "metadata.namespace":
		return p.namespace
	case "metadata.uid":
		return "4f7e9a1c-0000-4000-8000-" + randomHex(6)
	case "spec.serviceAccountName":
		return tmpl.Spec.ServiceAccountName
	case "spec.nodeName":
		return "node-1"
	case "status.podIP", "status.hostIP":
		return "127.0.0.1"
	case "status.podIPs", "status.hostIPs":
		return "127.0.0.1"
	}
	if k, ok := cutBrackets(path, "metadata.labels"); ok {
		return tmpl.Labels[k]
	}
	if k, ok := cutBrackets(path, "metadata.annotations"); ok {
		return tmpl.Annotations[k]
	}
	t.Fatalf("fieldRef %q is not a field the downward API offers", path)
	return ""
}

func cutBrackets(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

// resourceField is the kubelet's value for a resourceFieldRef: the limit
// (the request for requests.*), divided by the divisor, rounded up. Without
// a limit the kubelet uses the node's allocatable; this machine's is used.
func resourceField(t *testing.T, c *corev1.Container, ref *corev1.ResourceFieldSelector) string {
	t.Helper()
	var q resource.Quantity
	var ok bool
	switch name, isReq := strings.CutPrefix(ref.Resource, "requests."); {
	case isReq:
		q, ok = c.Resources.Requests[corev1.ResourceName(name)]
	default:
		name = strings.TrimPrefix(ref.Resource, "limits.")
		q, ok = c.Resources.Limits[corev1.ResourceName(name)]
		if !ok && name == "cpu" {
			q, ok = *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI), true
		}
		if !ok && name == "memory" {
			q, ok = resource.MustParse("8Gi"), true
		}
	}
	if !ok {
		t.Fatalf("resourceFieldRef %s: container %s sets no such resource", ref.Resource, c.Name)
	}
	div := ref.Divisor
	if div.IsZero() {
		div = resource.MustParse("1")
	}
	return fmt.Sprint(int64(math.Ceil(float64(q.MilliValue()) / float64(div.MilliValue()))))
}

// secret reads a Secret the pod references; nil for a missing optional one.
func (pe *podEnv) secret(t *testing.T, name string, optional *bool, what string) *corev1.Secret {
	t.Helper()
	if pe.secrets == nil {
		return nil
	}
	s, err := pe.secrets(name)
	if apierrors.IsNotFound(err) {
		if optional != nil && *optional {
			return nil
		}
		t.Fatalf("%s: Secret %s/%s does not exist and is not optional: the pod would never start (CreateContainerConfigError). "+
			"Secrets here are the ones Strimzi makes for the chart's Kafka and KafkaUsers, and those the test made for the values", what, pe.ns, name)
	}
	if err != nil {
		t.Fatalf("%s: reading Secret %s: %v", what, name, err)
	}
	return s
}

// configMap finds a ConfigMap the chart renders.
func (pe *podEnv) configMap(t *testing.T, name string, optional *bool) *corev1.ConfigMap {
	t.Helper()
	o := pe.render.find("ConfigMap", name)
	if o == nil {
		if optional != nil && *optional {
			return nil
		}
		t.Fatalf("ConfigMap %s is referenced but the chart does not render it", name)
	}
	var cm corev1.ConfigMap
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &cm); err != nil {
		t.Fatal(err)
	}
	return &cm
}

// volume makes the directory that stands for a volume; "" for one that
// has nothing to offer here (a service account token).
func (pe *podEnv) volume(t *testing.T, w *workload, v *corev1.Volume) string {
	t.Helper()
	switch {
	case v.EmptyDir != nil:
		return pe.tmp()
	case v.PersistentVolumeClaim != nil:
		claim := v.PersistentVolumeClaim.ClaimName
		if pe.render.find("PersistentVolumeClaim", claim) == nil {
			t.Fatalf("volume %s of %s uses PersistentVolumeClaim %q that the chart does not render (claims: %v)",
				v.Name, w, claim, pe.render.names("PersistentVolumeClaim"))
		}
		if pe.claims[claim] == "" {
			pe.claims[claim] = pe.tmp()
		}
		return pe.claims[claim]
	case v.Secret != nil:
		dir := pe.tmp()
		pe.writeSecret(t, dir, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, "volume "+v.Name+" of "+w.String())
		return dir
	case v.ConfigMap != nil:
		dir := pe.tmp()
		cm := pe.configMap(t, v.ConfigMap.Name, v.ConfigMap.Optional)
		if cm != nil {
			data := map[string][]byte{}
			for k, s := range cm.Data {
				data[k] = []byte(s)
			}
			writeItems(t, dir, data, v.ConfigMap.Items, "ConfigMap "+cm.Name)
		}
		return dir
	case v.Projected != nil:
		dir := pe.tmp()
		for _, src := range v.Projected.Sources {
			switch {
			case src.Secret != nil:
				pe.writeSecret(t, dir, src.Secret.Name, src.Secret.Items, src.Secret.Optional, "projected volume "+v.Name)
			case src.ServiceAccountToken != nil:
				// The kubeconfig stands for the token.
			default:
				t.Fatalf("volume %s of %s: projected source %+v is not supported here", v.Name, w, src)
			}
		}
		return dir
	}
	t.Fatalf("volume %s of %s: kind not supported here: %+v", v.Name, w, v.VolumeSource)
	return ""
}

func (pe *podEnv) writeSecret(t *testing.T, dir, name string, items []corev1.KeyToPath, optional *bool, what string) {
	t.Helper()
	s := pe.secret(t, name, optional, what)
	if s == nil {
		return
	}
	writeItems(t, dir, s.Data, items, "Secret "+name)
}

// writeItems writes a Secret's or ConfigMap's keys as the kubelet does: all
// keys by name, or the listed items at their paths.
func writeItems(t *testing.T, dir string, data map[string][]byte, items []corev1.KeyToPath, what string) {
	t.Helper()
	if len(items) == 0 {
		for k := range data {
			items = append(items, corev1.KeyToPath{Key: k, Path: k})
		}
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			t.Fatalf("%s has no key %q (keys: %v): the volume would not mount", what, it.Key, mapKeys(data))
		}
		path := filepath.Join(dir, it.Path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, v, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// rewrite applies the literal replacements in more, then replaces every
// mount path in the args and env values by the directory that stands for
// it. Mount paths match as whole path components only (/tmp is not the
// start of /tmpfs nor the end of /var/tmp), longest first, in one pass so
// that a replacement is never rewritten again.
func (p *pod) rewrite(more map[*regexp.Regexp]string) {
	paths := mapKeys(p.mounts)
	slices.SortFunc(paths, func(a, b string) int { return len(b) - len(a) })
	pathChar := func(c byte) bool {
		return c == '_' || c == '.' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	apply := func(s string) string {
		for re, repl := range more {
			s = re.ReplaceAllLiteralString(s, repl)
		}
		var b strings.Builder
	next:
		for i := 0; i < len(s); i++ {
			if i == 0 || !pathChar(s[i-1]) {
				for _, key := range paths {
					mp := strings.TrimSuffix(key, "/")
					end := i + len(mp)
					if strings.HasPrefix(s[i:], mp) && (end == len(s) || !pathChar(s[end])) {
						b.WriteString(p.mounts[key])
						i = end - 1
						continue next
					}
				}
			}
			b.WriteByte(s[i])
		}
		return b.String()
	}
	for i := range p.args {
		p.args[i] = apply(p.args[i])
	}
	for i := range p.env {
		p.env[i].value = apply(p.env[i].value)
	}
}

// waitUntil polls cond every interval until it is true or timeout passes.
func waitUntil(timeout, interval time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %s", timeout)
		}
		time.Sleep(interval)
	}
}
