"""The Kubernetes runtime: assignments applied to a cluster, or to a node pool of one."""
