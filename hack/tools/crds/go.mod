// The real CRDs of the other operators whose kinds the chart renders, for
// test/chart: their Go modules ship the CRD YAML, and test/chart loads it
// from the module cache (`go mod download -json` here), so these lines are
// the one place their versions are pinned and go.sum checks their content.
// No package imports them: never `go mod tidy` this module, which would
// drop them.
//
// KEDA v2.20.2 is the newest whose go.mod the project's Go (1.26) accepts
// (v2.21 asks for go 1.27.4). v0.85.0 is the newest prometheus-operator
// the module proxy serves.
module ytx.dev/hack/tools/crds

go 1.26

require (
	github.com/kedacore/keda/v2 v2.20.2
	github.com/prometheus-operator/prometheus-operator v0.85.0
)
