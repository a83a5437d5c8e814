package chart_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// trialServer is the trial S3 server's Deployment, nil when the case
// renders none.
func (r *rendered) trialServer(t *testing.T) *appsv1.Deployment {
	t.Helper()
	for _, o := range r.ofKind("Deployment") {
		if o.GetName() == r.name("-s3") {
			d := &appsv1.Deployment{}
			fromUnstructured(t, o, d)
			return d
		}
	}
	return nil
}

// checkStorageCommon holds for every case: the trial server's pods, when
// rendered, are as secure as the others; an s3 URL that names the trial
// server's Service reaches its pods on their S3 port.
func checkStorageCommon(t *testing.T, r *rendered) {
	t.Helper()
	d := r.trialServer(t)
	if d != nil {
		checkPodSecurity(t, podsOf(d))
	}
	for _, component := range []string{"controller", "worker"} {
		f := flags(t, container(t, r.deployment(t, component)))
		endpoint := regexp.MustCompile(`[?&]endpoint=([^&]+)`).FindStringSubmatch(f["storage"])
		trial := endpoint != nil && strings.HasPrefix(endpoint[1], r.name("-s3")+".")
		if trial != (d != nil) {
			t.Errorf("%s: --storage=%s, but the trial server is rendered: %v", component, f["storage"], d != nil)
		}
	}
}

type trialS3Want struct {
	bucket, prefix       string
	secret               string // the credentials' Secret
	accessKey, secretKey string // its keys
	madeSecret, claim    bool   // the chart makes the Secret, the claim
}

// checkTrialS3 checks the trial S3 server as a user would: the image the
// tests run (the Makefile's versitygw), one pod that never overlaps its
// successor on the ReadWriteOnce claim, the bucket made on the volume it
// serves, the same keys for the server and both programs, probes on its
// health path, a Service on its port that the programs' --storage names.
func checkTrialS3(t *testing.T, r *rendered, w trialS3Want) {
	t.Helper()
	ns := r.c.namespace
	d := r.trialServer(t)
	if d == nil {
		t.Fatalf("no trial S3 server Deployment %s rendered", r.name("-s3"))
	}
	p := podsOf(d)
	pod := d.Spec.Template.Spec
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("%s: replicas %v, strategy %q; want 1 and Recreate (its volume is ReadWriteOnce)", d.Name, d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: mounts a service account token it has no use for", d.Name)
	}
	checkSelects(t, "Deployment "+d.Name+"'s selector", labelSelector(t, d.Spec.Selector), p, r.allPods(t))

	makefile, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	version := regexp.MustCompile(`(?m)^VERSITYGW_VERSION\s*:=\s*(\S+)`).FindSubmatch(makefile)
	if version == nil {
		t.Fatal("no VERSITYGW_VERSION in the Makefile")
	}
	c := onlyContainer(t, p)
	if want := "versity/versitygw:" + string(version[1]); c.Image != want {
		t.Errorf("%s: image %s, want %s (the versitygw the tests run)", d.Name, c.Image, want)
	}
	if len(c.Command) != 0 {
		t.Errorf("%s: command %q replaces the image's entrypoint", d.Name, c.Command)
	}
	if want := []string{"--port=:7070", "--region=us-east-1", "--health=/health", "--quiet", "posix", "/data"}; !slices.Equal(c.Args, want) {
		t.Errorf("%s: args %q, want %q", d.Name, c.Args, want)
	}
	data := mountAt(p, c, "/data")
	if data == nil {
		t.Fatalf("%s: nothing mounted at /data, the directory it serves", d.Name)
	}
	if w.claim {
		if data.PersistentVolumeClaim == nil || data.PersistentVolumeClaim.ClaimName != r.name("-s3") {
			t.Errorf("%s: /data is %+v, want the claim %s", d.Name, data.VolumeSource, r.name("-s3"))
		}
		pvc := &corev1.PersistentVolumeClaim{}
		fromUnstructured(t, r.get(t, "PersistentVolumeClaim", r.name("-s3")), pvc)
		if !slices.Equal(pvc.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}) || pvc.Spec.StorageClassName != nil ||
			pvc.Spec.Resources.Requests.Storage().String() != "20Gi" || pvc.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Errorf("PVC %s: %v %v class %v annotations %v; want ReadWriteOnce 20Gi, the default class, kept", pvc.Name, pvc.Spec.AccessModes,
				pvc.Spec.Resources.Requests.Storage(), pvc.Spec.StorageClassName, pvc.Annotations)
		}
	} else if data.EmptyDir == nil {
		t.Errorf("%s: /data is %+v, want an emptyDir", d.Name, data.VolumeSource)
	}
	if v := mountAt(p, c, "/tmp"); v == nil || v.EmptyDir == nil {
		t.Errorf("%s: no emptyDir at /tmp (the root file system is read-only)", d.Name)
	}
	// The bucket: a directory of the served volume.
	if n := len(pod.InitContainers); n != 1 {
		t.Fatalf("%s: %d init containers, want the one that makes the bucket", d.Name, n)
	}
	ic := pod.InitContainers[0]
	if want := []string{"mkdir", "-p", "/data/" + w.bucket}; !slices.Equal(ic.Command, want) || ic.Image != c.Image {
		t.Errorf("%s: init container runs %q in %s, want %q in %s", d.Name, ic.Command, ic.Image, want, c.Image)
	}
	if v := mountAt(p, ic, "/data"); v == nil || v.Name != data.Name {
		t.Errorf("%s: the init container does not mount the served volume at /data", d.Name)
	}

	// The keys: the server's root user is the programs' S3 user.
	for env, key := range map[string]string{"ROOT_ACCESS_KEY": w.accessKey, "ROOT_SECRET_KEY": w.secretKey} {
		if e := envVar(c, env); e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != w.secret || e.ValueFrom.SecretKeyRef.Key != key {
			t.Errorf("%s: %s is not from Secret %s key %s", d.Name, env, w.secret, key)
		}
	}
	checksums := map[string]string{d.Name: d.Spec.Template.Annotations["checksum/s3-credentials"]}
	for _, component := range []string{"controller", "worker"} {
		cd := r.deployment(t, component)
		cc := container(t, cd)
		for env, key := range map[string]string{"AWS_ACCESS_KEY_ID": w.accessKey, "AWS_SECRET_ACCESS_KEY": w.secretKey} {
			if e := envVar(cc, env); e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != w.secret || e.ValueFrom.SecretKeyRef.Key != key {
				t.Errorf("%s: %s is not from Secret %s key %s, as the server's keys are", cd.Name, env, w.secret, key)
			}
		}
		if mountAt(podsOf(cd), cc, "/var/lib/ytx") != nil {
			t.Errorf("%s: a volume at /var/lib/ytx with S3 storage", cd.Name)
		}
		path := "/" + w.prefix
		if w.prefix == "" {
			path = ""
		}
		wantFlag(t, flags(t, cc), "storage", fmt.Sprintf("s3://%s%s?endpoint=%s.%s.svc:7070&region=us-east-1&insecure=true", w.bucket, path, r.name("-s3"), ns))
		checksums[cd.Name] = cd.Spec.Template.Annotations["checksum/s3-credentials"]
	}
	if w.madeSecret {
		sec := &corev1.Secret{}
		fromUnstructured(t, r.get(t, "Secret", w.secret), sec)
		if len(sec.Data[w.accessKey]) < 16 || len(sec.Data[w.secretKey]) < 32 || len(sec.Data) != 2 {
			t.Errorf("Secret %s: keys of %d and %d bytes (%d keys), want an access key of 16 or more and a secret of 32 or more", sec.Name, len(sec.Data[w.accessKey]), len(sec.Data[w.secretKey]), len(sec.Data))
		}
		if sec.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Errorf("Secret %s is not kept on uninstall: the kept claim's files would outlive their keys", sec.Name)
		}
		// The three pods restart together when the keys change.
		first := checksums[d.Name]
		for name, sum := range checksums {
			if sum == "" || sum != first {
				t.Errorf("pods of %s: checksum/s3-credentials %q, want the same non-empty one on the server, the controller and the workers (%v)", name, sum, checksums)
			}
		}
	} else {
		if len(r.ofKind("Secret")) != 0 {
			t.Errorf("the chart makes a Secret though credentialsSecret.name is %s", w.secret)
		}
		for name, sum := range checksums {
			if sum != "" {
				t.Errorf("pods of %s: checksum/s3-credentials with a Secret the chart does not make", name)
			}
		}
	}

	// Probes on the health path versitygw serves.
	for kind, probe := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != "/health" || probe.HTTPGet.Port.String() != "s3" {
			t.Errorf("%s: no %s probe GET /health on port s3", d.Name, kind)
		}
	}

	// The Service that --storage names.
	svc := &corev1.Service{}
	fromUnstructured(t, r.get(t, "Service", r.name("-s3")), svc)
	checkSelects(t, "Service "+svc.Name+"'s selector", labels.SelectorFromSet(svc.Spec.Selector), p, r.allPods(t))
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 7070 || svc.Spec.Ports[0].TargetPort.String() != "s3" {
		t.Errorf("Service %s ports %v, want 7070 to the container's s3 port", svc.Name, svc.Spec.Ports)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "s3" || c.Ports[0].ContainerPort != 7070 {
		t.Errorf("%s: ports %v, want s3 7070 (--port=:7070)", d.Name, c.Ports)
	}
}

// checkNoReadWriteMany: no claim of the render asks for ReadWriteMany.
func checkNoReadWriteMany(t *testing.T, r *rendered) {
	t.Helper()
	for _, o := range r.ofKind("PersistentVolumeClaim") {
		pvc := &corev1.PersistentVolumeClaim{}
		fromUnstructured(t, o, pvc)
		if slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteMany) {
			t.Errorf("PVC %s asks for ReadWriteMany, which kind's, minikube's, k3s's and most clouds' default classes do not offer", pvc.Name)
		}
	}
}

func checkTrialS3Options(t *testing.T, r *rendered) {
	checkTrialS3(t, r, trialS3Want{bucket: "media", prefix: "ytx", secret: "my-s3", accessKey: "user", secretKey: "pass"})
	checkNoReadWriteMany(t, r)
}

// checkPVC: storage.type pvc mounts one ReadWriteMany claim at the --storage
// directory of both programs, and no trial server is rendered.
func checkPVC(t *testing.T, r *rendered) {
	if r.trialServer(t) != nil {
		t.Error("the trial S3 server is rendered with storage.type pvc")
	}
	for _, component := range []string{"controller", "worker"} {
		d := r.deployment(t, component)
		c := container(t, d)
		wantFlag(t, flags(t, c), "storage", "file:///var/lib/ytx")
		if v := mountAt(podsOf(d), c, "/var/lib/ytx"); v == nil || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "demo-ytx-data" {
			t.Errorf("%s: demo-ytx-data is not at /var/lib/ytx", d.Name)
		}
		if e := envVar(c, "AWS_ACCESS_KEY_ID"); e != nil {
			t.Errorf("%s: AWS_ACCESS_KEY_ID with storage.type pvc", d.Name)
		}
	}
	pvc := &corev1.PersistentVolumeClaim{}
	fromUnstructured(t, r.get(t, "PersistentVolumeClaim", "demo-ytx-data"), pvc)
	if !slices.Equal(pvc.Spec.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}) || pvc.Spec.Resources.Requests.Storage().String() != "50Gi" {
		t.Errorf("PVC %v %v, want ReadWriteMany 50Gi", pvc.Spec.AccessModes, pvc.Spec.Resources.Requests.Storage())
	}
}

// trialS3Egress is the controller's and the workers' egress rule to the
// trial server, as policyRules describes it.
func trialS3Egress(r *rendered) string {
	return fmt.Sprintf("[pods of %s] [7070/TCP]", r.name("-s3"))
}

// checkTrialS3NetworkPolicy: the trial server takes connections on its S3
// port from the controller's and the workers' pods only, and makes none.
func checkTrialS3NetworkPolicy(t *testing.T, r *rendered) {
	t.Helper()
	checkNetworkPolicy(t, r, "s3", []string{fmt.Sprintf("[pods of %s pods of %s] [s3/TCP]", r.name("-controller"), r.name("-worker"))}, nil)
}
