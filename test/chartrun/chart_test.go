package chartrun

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"ytx.dev/ytx/internal/kafka"
)

// chartCase is one `helm template` of the chart and what the tests do with
// it.
type chartCase struct {
	name      string
	release   string
	namespace string
	values    map[string]any
	// extractionNS is where the test applies its YouTubeExtraction.
	extractionNS string
	// secrets are Secrets the values name, which a user would have made.
	secrets map[string]map[string][]byte
	// watched and unwatched are set in namespaced mode.
	watched   []string
	unwatched string

	render *render
	// trialDir is the directory the case's trial S3 server serves, once
	// it runs (its buckets are its subdirectories).
	trialDir string
	// broker is the case's Kafka; adminKafka a superuser on it.
	broker     *kfake.Cluster
	adminKafka kafka.Config
}

// fullname is the prefix of the chart's object names (the contract of
// _helpers.tpl, as in `helm create`).
func (c *chartCase) fullname() string {
	if strings.Contains(c.release, "ytx") {
		return c.release
	}
	return c.release + "-ytx"
}

// transport is the case's transport value: how jobs reach the workers.
func (c *chartCase) transport() string {
	if v, ok := c.values["transport"].(string); ok {
		return v
	}
	return "kafka"
}

// render is the chart's output: every object `helm template` printed.
type render struct {
	objs []*unstructured.Unstructured
}

// helmTemplate renders the chart for c, offline, with helm's own state
// directories kept out of $HOME.
func helmTemplate(c *chartCase) (*render, error) {
	dir, err := os.MkdirTemp(tmpRoot, "helm-"+c.name+"-")
	if err != nil {
		return nil, err
	}
	args := []string{"template", c.release, chartDir, "--namespace", c.namespace}
	if c.values != nil {
		data, err := yaml.Marshal(c.values)
		if err != nil {
			return nil, err
		}
		f := filepath.Join(dir, "values.yaml")
		if err := os.WriteFile(f, data, 0o644); err != nil {
			return nil, err
		}
		args = append(args, "--values", f)
	}
	cmd := exec.Command(helmBin, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(dir, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(dir, "config"),
		"HELM_DATA_HOME="+filepath.Join(dir, "data"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("helm %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	r := &render{}
	docs := utilyaml.NewYAMLReader(bufio.NewReader(&stdout))
	for {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading helm's output: %w", err)
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("reading helm's output: %w", err)
		}
		if s := strings.TrimSpace(string(js)); s == "null" || s == "{}" {
			continue // a document of comments only
		}
		o := &unstructured.Unstructured{}
		if err := o.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("reading helm's output: %w: %s", err, doc)
		}
		r.objs = append(r.objs, o)
	}
	if len(r.objs) == 0 {
		return nil, fmt.Errorf("helm %s rendered nothing", strings.Join(args, " "))
	}
	return r, nil
}

// all returns the objects of a kind.
func (r *render) all(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r.objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// find returns the object of a kind and name, nil if there is none.
func (r *render) find(kind, name string) *unstructured.Unstructured {
	for _, o := range r.all(kind) {
		if o.GetName() == name {
			return o
		}
	}
	return nil
}

// names lists the names of the objects of a kind, for failure messages.
func (r *render) names(kind string) []string {
	var out []string
	for _, o := range r.all(kind) {
		out = append(out, o.GetName())
	}
	return out
}

// deployment returns a rendered Deployment, typed.
func (r *render) deployment(t *testing.T, name string) *appsv1.Deployment {
	t.Helper()
	o := r.find("Deployment", name)
	if o == nil {
		t.Fatalf("the chart renders no Deployment %q (Deployments: %v)", name, r.names("Deployment"))
	}
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
		t.Fatalf("Deployment %s: %v", name, err)
	}
	return &d
}

// cronJob returns a rendered CronJob, typed.
func (r *render) cronJob(t *testing.T, name string) *batchv1.CronJob {
	t.Helper()
	o := r.find("CronJob", name)
	if o == nil {
		t.Fatalf("the chart renders no CronJob %q (CronJobs: %v)", name, r.names("CronJob"))
	}
	var cj batchv1.CronJob
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &cj); err != nil {
		t.Fatalf("CronJob %s: %v", name, err)
	}
	return &cj
}

// workload is what makes a release's pods: a Deployment, or a CronJob
// (through the Job of its jobTemplate), and the template of those pods.
type workload struct {
	kind, name string
	template   *corev1.PodTemplateSpec
}

func (w *workload) String() string { return w.kind + " " + w.name }

func deploymentPods(d *appsv1.Deployment) *workload {
	return &workload{kind: "Deployment", name: d.Name, template: &d.Spec.Template}
}

func cronJobPods(cj *batchv1.CronJob) *workload {
	return &workload{kind: "CronJob", name: cj.Name, template: &cj.Spec.JobTemplate.Spec.Template}
}

// container returns a container of a workload's pods by name.
func container(t *testing.T, w *workload, name string) *corev1.Container {
	t.Helper()
	var names []string
	for i := range w.template.Spec.Containers {
		c := &w.template.Spec.Containers[i]
		if c.Name == name {
			return c
		}
		names = append(names, c.Name)
	}
	t.Fatalf("%s has no container %q (containers: %v)", w, name, names)
	return nil
}

// kafkaCluster is what Strimzi makes of the chart's Kafka resource: the
// name its Secrets and bootstrap Service derive from, and the port of the
// TLS + SCRAM-SHA-512 listener.
type kafkaCluster struct {
	name string
	port int64
	// userSecretPrefix is the User Operator's secretPrefix: a KafkaUser's
	// Secret is named prefix + user.
	userSecretPrefix string
}

func (r *render) kafka(t *testing.T) kafkaCluster {
	t.Helper()
	ks := r.all("Kafka")
	if len(ks) != 1 {
		t.Fatalf("the chart renders %d Kafka resources, want one (Strimzi mode is the default)", len(ks))
	}
	k := ks[0]
	c := kafkaCluster{name: k.GetName()}
	listeners, _, _ := unstructured.NestedSlice(k.Object, "spec", "kafka", "listeners")
	var seen []string
	for _, l := range listeners {
		lm, _ := l.(map[string]any)
		tlsOn, _, _ := unstructured.NestedBool(lm, "tls")
		auth, _, _ := unstructured.NestedString(lm, "authentication", "type")
		typ, _, _ := unstructured.NestedString(lm, "type")
		port, _, _ := unstructured.NestedInt64(lm, "port")
		seen = append(seen, fmt.Sprintf("%v:%d(type=%s tls=%v auth=%s)", lm["name"], port, typ, tlsOn, auth))
		if tlsOn && auth == "scram-sha-512" && typ == "internal" {
			c.port = port
		}
	}
	if c.port == 0 {
		t.Fatalf("Kafka %s has no internal TLS listener with scram-sha-512 authentication; listeners: %v", c.name, seen)
	}
	c.userSecretPrefix, _, _ = unstructured.NestedString(k.Object, "spec", "entityOperator", "userOperator", "secretPrefix")
	return c
}

// bootstrap is the address of the cluster's bootstrap Service that Strimzi
// creates for the listener.
func (k kafkaCluster) bootstrap(ns string) string {
	return fmt.Sprintf("%s-kafka-bootstrap.%s.svc:%d", k.name, ns, k.port)
}

// kafkaAuthorization is the Kafka resource's spec.kafka.authorization.type
// ("simple": the KafkaUsers' ACLs are enforced).
func (r *render) kafkaAuthorization() string {
	for _, k := range r.all("Kafka") {
		a, _, _ := unstructured.NestedString(k.Object, "spec", "kafka", "authorization", "type")
		return a
	}
	return ""
}

// strimziACLs translates a KafkaUser's simple-authorization ACLs into the
// broker's.
func strimziACLs(u *unstructured.Unstructured) ([]kfake.ACL, error) {
	typ, _, _ := unstructured.NestedString(u.Object, "spec", "authorization", "type")
	if typ == "" {
		return nil, nil
	}
	if typ != "simple" {
		return nil, fmt.Errorf("KafkaUser %s: authorization type %q is not supported here", u.GetName(), typ)
	}
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "authorization", "acls")
	var out []kfake.ACL
	for i, r := range rules {
		rule, _ := r.(map[string]any)
		rtype, _, _ := unstructured.NestedString(rule, "resource", "type")
		name, _, _ := unstructured.NestedString(rule, "resource", "name")
		pattern, _, _ := unstructured.NestedString(rule, "resource", "patternType")
		host, _, _ := unstructured.NestedString(rule, "host")
		aclType, _, _ := unstructured.NestedString(rule, "type")
		ops, _, _ := unstructured.NestedStringSlice(rule, "operations")
		if op, ok, _ := unstructured.NestedString(rule, "operation"); ok {
			ops = append(ops, op)
		}
		bad := func(what string) error {
			return fmt.Errorf("KafkaUser %s: acls[%d]: %s", u.GetName(), i, what)
		}
		a := kfake.ACL{Name: name, Host: host, Allow: aclType != "deny", Pattern: kmsg.ACLResourcePatternTypeLiteral}
		switch rtype {
		case "topic":
			a.Resource = kmsg.ACLResourceTypeTopic
		case "group":
			a.Resource = kmsg.ACLResourceTypeGroup
		case "cluster":
			a.Resource, a.Name = kmsg.ACLResourceTypeCluster, "kafka-cluster"
		case "transactionalId":
			a.Resource = kmsg.ACLResourceTypeTransactionalId
		default:
			return nil, bad(fmt.Sprintf("resource type %q is not one of Strimzi's", rtype))
		}
		switch pattern {
		case "", "literal":
		case "prefix":
			a.Pattern = kmsg.ACLResourcePatternTypePrefixed
		default:
			return nil, bad(fmt.Sprintf("patternType %q is not literal or prefix", pattern))
		}
		if len(ops) == 0 {
			return nil, bad("no operations")
		}
		for _, op := range ops {
			o, err := kmsg.ParseACLOperation(op)
			if err != nil || o <= kmsg.ACLOperationAny {
				return nil, bad(fmt.Sprintf("operation %q is not one of Kafka's", op))
			}
			a.Operation = o
			out = append(out, a)
		}
	}
	return out, nil
}

// topics are the Kafka topics the chart's KafkaTopics make: name and
// partitions.
func (r *render) topics() map[string]int {
	out := map[string]int{}
	for _, kt := range r.all("KafkaTopic") {
		name, _, _ := unstructured.NestedString(kt.Object, "spec", "topicName")
		if name == "" {
			name = kt.GetName()
		}
		p, _, _ := unstructured.NestedInt64(kt.Object, "spec", "partitions")
		if p < 1 {
			p = 1
		}
		out[name] = int(p)
	}
	return out
}

// flagValue finds the value a process gets for --name: from its command
// line ("--name=value", "--name value" or a bare boolean "--name"), else
// from YTX_<NAME> in its environment, as cmd/ytx does.
func flagValue(args []string, env map[string]string, name string) (string, bool) {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
		if a == "--"+name {
			// pflag: a boolean flag takes no separate value.
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") && !boolFlags[name] {
				return args[i+1], true
			}
			return "true", true
		}
	}
	v, ok := env[envName(name)]
	return v, ok
}

// boolFlags are the boolean flags of cmd/ytx.
var boolFlags = map[string]bool{"leader-elect": true, "kafka-tls": true}

// envName is the variable cmd/ytx reads for a flag.
func envName(flag string) string {
	return "YTX_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// expand replaces $(VAR) references by the values in env, as the kubelet
// does for env values, command and args: $$ is a literal $, an unknown
// reference stays as written.
func expand(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := env[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
