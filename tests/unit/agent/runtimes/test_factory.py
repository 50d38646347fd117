"""The runtime factory: which ``--runtime`` kinds give which runtime, what is refused
(naming the flag and the choices), and that a process agent loads no Kubernetes code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgeplane.agent.layout import Layout
from edgeplane.agent.runtimes.factory import (
    CHOICES,
    KubeOptions,
    RuntimeOptions,
    check_kinds,
    runtime_builder,
)
from edgeplane.agent.runtimes.kubernetes.config import KubeConfigError
from edgeplane.agent.runtimes.kubernetes.runtime import KubernetesRuntime
from edgeplane.agent.runtimes.mixed import MixedRuntime
from edgeplane.agent.runtimes.process import ProcessRuntime


def options(tmp_path: Path, kubeconfig: Path | None = None) -> RuntimeOptions:
    kube = KubeOptions(kubeconfig) if kubeconfig else None
    return RuntimeOptions(Layout.of(tmp_path / "data", None), 8, kube)


def kubeconfig(tmp_path: Path) -> Path:
    """A cluster nobody is asked about: building the runtime makes no request."""
    path = tmp_path / "kubeconfig"
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "main",
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "abc"}}],
        "contexts": [{"name": "main", "context": {"cluster": "c", "user": "u"}}],
    }
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    ("kinds", "made"),
    [
        (("process",), ProcessRuntime),
        (("kubernetes",), KubernetesRuntime),
        (("process", "kubernetes"), MixedRuntime),
        (("kubernetes", "process"), MixedRuntime),
    ],
    ids=["process", "kubernetes", "both", "both-kubernetes-first"],
)
async def test_each_kind_gives_its_runtime(
    tmp_path: Path, kinds: tuple[str, ...], made: type
) -> None:
    runtime = runtime_builder(kinds, options(tmp_path, kubeconfig(tmp_path)))("s1")
    try:
        assert isinstance(runtime, made)
    finally:
        await runtime.close()


async def test_both_kinds_hold_a_process_and_a_kubernetes_runtime(tmp_path: Path) -> None:
    build = runtime_builder(("kubernetes", "process"), options(tmp_path, kubeconfig(tmp_path)))
    runtime = build("s1")
    assert isinstance(runtime, MixedRuntime)
    try:
        assert isinstance(runtime.process, ProcessRuntime)
        assert isinstance(runtime.kubernetes, KubernetesRuntime)
    finally:
        await runtime.close()


@pytest.mark.parametrize(
    "kinds",
    [("docker",), (), ("process", "process"), ("process", "kubernetes", "docker")],
    ids=["unknown", "none", "twice", "three"],
)
def test_what_runtime_cannot_run_is_refused_naming_the_flag_and_choices(
    tmp_path: Path, kinds: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError, match="--runtime") as refused:
        runtime_builder(kinds, options(tmp_path))
    assert str(refused.value).endswith(f"give {CHOICES}")


def test_the_choices_read_as_the_flag_says_them() -> None:
    assert CHOICES == "process, kubernetes, or process,kubernetes"
    assert check_kinds(["kubernetes", "process"]) == ("kubernetes", "process")


def test_a_missing_cluster_fails_before_the_site_is_known(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="kubeconfig"):
        runtime_builder(("kubernetes",), options(tmp_path, tmp_path / "absent"))


def test_a_process_runtime_built_loads_no_kubernetes_code(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from edgeplane.agent.layout import Layout\n"
        "from edgeplane.agent.runtimes.factory import RuntimeOptions, runtime_builder\n"
        f"layout = Layout.of(Path({str(tmp_path)!r}), None)\n"
        "runtime_builder(['process'], RuntimeOptions(layout, 8))('s1')\n"
        "print(','.join(m for m in sys.modules if '.runtimes.kubernetes' in m))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == ""
