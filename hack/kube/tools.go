//go:build tools

// Package kube pins the Kubernetes commands that hack/kube/build compiles, so that
// go.mod and go.sum hold everything they need.
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
)
