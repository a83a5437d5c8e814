//go:build tools

// Package tools pins the kube-apiserver and kubectl commands that envtest and
// `make dev` run; they are built from the Go module proxy because setup-envtest
// needs the internet.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
