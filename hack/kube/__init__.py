"""Real Kubernetes control planes for tests, built from Go modules (see docs/testing.md).

``hack/kube/build`` compiles kube-apiserver, kube-controller-manager, kube-scheduler,
kine and KWOK into a cache outside the tree; ``hack.kube.cluster`` starts N small
control planes on loopback ports from those binaries; ``python -m hack.kube`` is the
command line over it, and ``tests/k8s/conftest.py`` the pytest fixture.
"""
