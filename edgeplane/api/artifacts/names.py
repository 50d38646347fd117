"""Artifact names and versions: matched whole, so ``"demo\\n"`` is no name."""

from __future__ import annotations

import re

from edgeplane.api.artifacts.errors import shown

ARTIFACT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
"""A DNS-1123 label: it is a directory name on the hub and a URL path segment."""

ARTIFACT_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")


def name_problem(name: str) -> str | None:
    """Why ``name`` is no artifact name, or None."""
    if ARTIFACT_NAME.fullmatch(name):
        return None
    return f"name {shown(name)}: use at most 63 lower-case letters, digits and '-'"


def version_problem(version: str) -> str | None:
    """Why ``version`` is no artifact version, or None."""
    if ARTIFACT_VERSION.fullmatch(version):
        return None
    return (
        f"version {shown(version)}: use at most 128 letters, digits, '.', '_', '+' or '-', "
        "starting with a letter or digit (e.g. 1.2.0)"
    )
