"""The Kubernetes runtime: assignments applied to a cluster, or to a node pool of one.

The agent imports this package only when started with ``--runtime kubernetes``.

* ``config``: kubeconfig files and in-cluster service accounts -> ``KubeConfig``;
* ``client``: a small async Kubernetes API client (discovery, server-side apply, list,
  delete, pod logs) and its errors;
* ``apply``: applying an assignment's objects in order, with dry run, conflicts,
  pruning and an inventory ConfigMap per assignment;
* ``render``, ``readiness``, ``nodes``: pure: manifests to objects (namespace, labels,
  node pool), kstatus-like readiness, the site's facts from its nodes;
* ``runtime``: ``KubernetesRuntime``, the ``Runtime`` protocol over those, one
  instance per assignment; ``instances`` an assignment's state and the status it
  reads as; ``health`` reads statuses back, ``facts`` the nodes,
  ``logs`` pod logs, ``usage`` the pods' CPU from the metrics API, ``records`` what
  survives an agent restart, ``pool`` what the flags mean (node pool, namespaces, field
  manager), ``connect`` flags to a runtime.

Not here: deciding what runs where (the hub's placement) and anything of pydantic.

The package itself imports nothing: importing a pure module (``render``) must not load
the client, httpx and asyncio with it. The agent's entry points are
``connect.kube_config``, ``connect.kubernetes_runtime`` and ``pool.parse_node_pool``.
"""
