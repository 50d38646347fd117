"""Manifests the CLI integration tests apply (their own, not examples/)."""

from __future__ import annotations

SITES = """\
apiVersion: edgeplane.io/v1alpha1
kind: Site
metadata: {name: dublin, labels: {region: eu-west, tier: edge}}
spec: {runtime: process, location: {lat: 53.35, lon: -6.26}}
---
apiVersion: edgeplane.io/v1alpha1
kind: Site
metadata: {name: frankfurt, labels: {region: eu-central, tier: cloud}}
spec: {runtime: process}
---
apiVersion: edgeplane.io/v1alpha1
kind: Site
metadata: {name: boston, labels: {region: us-east}}
spec: {runtime: process}
"""

APP = """\
apiVersion: edgeplane.io/v1alpha1
kind: Application
metadata: {name: web, labels: {team: retail}, annotations: {owner: ops}}
spec:
  workload: {process: {command: python3, args: [-m, http.server]}}
  placement: {mode: Replicas, replicas: 2, siteGroups: [eu]}
"""

GROUP = """\
apiVersion: edgeplane.io/v1alpha1
kind: SiteGroup
metadata: {name: eu}
spec:
  description: Sites in the EU
  selector: {matchLabels: {tier: edge}}
"""
