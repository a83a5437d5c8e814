package chart_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// ownName is a name the chart gives an object whose kind allows fewer than
// the 253 characters of most names, with the values that render it.
type ownName struct {
	kind, suffix string // the name is <full name><suffix>
	limit        int
	values       []string
}

// ownNames are the binding ones: FN-worker-metrics, always rendered with
// the longer FN-controller-metrics, never is.
var ownNames = []ownName{
	{"Service", "-controller-metrics", 63, []string{"--set", "metrics.service.enabled=true"}},
	{"Service", "-worker", 63, []string{"--set", "transport=http", "--set", "jobToken.secretName=token"}},
	{"Service", "-s3", 63, nil},
	{"CronJob", "-doctor", 52, []string{"--set", "youtube.doctor.enabled=true"}},
}

// TestChartOwnNamesFit is the rule of the chart's own short names: with a
// full name that makes the object's name exactly as long as its kind
// allows, the chart renders it and the real API server takes it; one
// character more and `helm template` fails, naming the object, its length
// and the value to shorten. (Kafka is external here, so that the Strimzi
// names, which have rules of their own, do not fail first.)
func TestChartOwnNamesFit(t *testing.T) {
	const ns = "chart-names"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := ensureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	external := []string{"--set", "kafka.strimzi.enabled=false", "--set", "kafka.external.enabled=true", "--set", "kafka.external.brokers[0]=kafka:9092"}
	for _, n := range ownNames {
		t.Run(n.kind+n.suffix, func(t *testing.T) {
			fits := strings.Repeat("y", n.limit-len(n.suffix))
			objs, err := render("names", ns, append(append([]string{"--set", "fullnameOverride=" + fits}, external...), n.values...)...)
			if err != nil {
				t.Fatalf("a %s name of %d characters: %v", n.kind, n.limit, err)
			}
			found := false
			for _, o := range objs {
				if o.GetKind() == n.kind && o.GetName() == fits+n.suffix {
					found = true
					if err := apply(ctx, o); err != nil {
						t.Errorf("the API server refuses the %s %s (%d characters): %v", n.kind, o.GetName(), len(o.GetName()), err)
					}
				}
			}
			if !found {
				t.Fatalf("no %s %s rendered: the case checks nothing", n.kind, fits+n.suffix)
			}

			long := fits + "y"
			_, err = render("names", ns, append(append([]string{"--set", "fullnameOverride=" + long}, external...), n.values...)...)
			for _, want := range []string{n.kind + " " + long + n.suffix, "more than the", "shorten fullnameOverride"} {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("a %s name of %d characters: %v, want an error saying %q", n.kind, n.limit+1, err, want)
				}
			}
		})
	}
}
