"""Which runtime an agent runs: the kinds ``--runtime`` names -> one ``Runtime``.

``BUILDERS`` maps each kind to a builder. A builder runs in two steps, because the
agent checks its flags before it joins but learns its site's name only after: given
the ``RuntimeOptions`` it checks them (a bad kubeconfig fails here, before anything is
written) and returns what builds the runtime for a site. Several kinds give one
``MixedRuntime`` over them.

Adding a runtime: its package under ``runtimes/``, one line in ``BUILDERS`` (its
builder importing the package lazily, as the kubernetes one does: a process agent must
not load it), and tests. ``agent.agent`` calls ``runtime_builder``; ``mixed`` joins two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeplane.agent.layout import Layout
from edgeplane.agent.runtimes import Runtime
from edgeplane.agent.runtimes.mixed import MixedRuntime
from edgeplane.agent.runtimes.process import ProcessRuntime

PROCESS = "process"
KUBERNETES = "kubernetes"


@dataclass(frozen=True)
class KubeOptions:
    """The agent's Kubernetes flags."""

    kubeconfig: Path | None = None
    context: str | None = None
    node_pool: tuple[str, str] | None = None
    poll_seconds: float = 2.0


@dataclass(frozen=True)
class RuntimeOptions:
    """What a builder may use: the agent's directories and its runtime flags."""

    layout: Layout
    max_instances: int
    kube: KubeOptions | None = None


ForSite = Callable[[str], Runtime]
"""Builds the runtime once the site's name is known."""
Builder = Callable[[RuntimeOptions], ForSite]


def _process(options: RuntimeOptions) -> ForSite:
    layout = options.layout
    return lambda site: ProcessRuntime(
        layout.runtime_dir, work_dir=layout.work_dir, private_dir=layout.data_dir
    )


def _kubernetes(options: RuntimeOptions) -> ForSite:
    # Imported only here: a process agent loads nothing of the Kubernetes runtime.
    from edgeplane.agent.runtimes.kubernetes.connect import kubernetes_builder

    kube = options.kube or KubeOptions()
    directory = options.layout.data_dir / "runtime" / KUBERNETES
    return kubernetes_builder(
        kube.kubeconfig,
        kube.context,
        directory,
        pool=kube.node_pool,
        poll_seconds=kube.poll_seconds,
        max_instances=options.max_instances,
    )


BUILDERS: dict[str, Builder] = {PROCESS: _process, KUBERNETES: _kubernetes}
RUNTIMES = tuple(BUILDERS)
CHOICES = f"{', '.join(RUNTIMES)}, or {','.join(RUNTIMES)}"
"""What ``--runtime`` accepts, as its error message says it."""


def check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """``kinds`` if ``--runtime`` may name them (one kind, or both once each); else a
    ValueError naming the flag and the choices."""
    names = tuple(kinds)
    if not 1 <= len(names) <= 2 or len(set(names)) < len(names) or set(names) - set(RUNTIMES):
        raise ValueError(f"--runtime {','.join(names)!r}: give {CHOICES}")
    return names


def runtime_builder(kinds: Sequence[str], options: RuntimeOptions) -> ForSite:
    """What builds the runtime of ``kinds`` (``--runtime``'s, in its order) for a site;
    ValueError (the flag and the fix) for unknown kinds or a bad cluster config."""
    builders = {kind: BUILDERS[kind](options) for kind in check_kinds(kinds)}
    if len(builders) == 1:
        return next(iter(builders.values()))
    return lambda site: _mixed({kind: build(site) for kind, build in builders.items()})


def _mixed(runtimes: dict[str, Runtime]) -> MixedRuntime:
    process = runtimes.pop(PROCESS)
    (other,) = runtimes.values()
    if not isinstance(process, ProcessRuntime):  # the table says otherwise
        raise TypeError(f"the {PROCESS} builder made a {type(process).__name__}")
    return MixedRuntime(process, other)
