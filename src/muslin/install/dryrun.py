"""``muslin install --dry-run``: what would run, computed from the plan alone (no Docker, no downloads)."""

from __future__ import annotations

import shlex

from muslin import __version__
from muslin.install import commit as commit_mod
from muslin.install.container import InstallOptions, check_plan, image_reference
from muslin.install.payload import libraries_for
from muslin.install.steps import (
    CONTAINER_LABEL,
    CONTAINER_ROLE,
    WAITER_SCRIPT,
    WHEEL_DIR,
    WORK_DIR,
    make_steps,
)
from muslin.plan.model import Plan


def describe_install(plan: Plan, options: InstallOptions) -> list[str]:
    """The lines ``--dry-run`` prints: container config, downloads, copies, commands, commit."""
    check_plan(plan, options)
    reference = image_reference(plan)
    installs = plan.installs
    steps = make_steps(plan, tuple(i.artifact.filename for i in installs if i.artifact), None, options.installer)
    network = options.network or "none"
    idle = " or ".join(" ".join(shlex.quote(a) for a in cmd) for cmd in steps.idle_commands)
    lines = [
        f"image:     {reference} (pulled if missing), platform {plan.target.platform}",
        f"container: network {network}, label {CONTAINER_LABEL}={CONTAINER_ROLE}, idle command {idle}",
    ]
    total = sum(i.artifact.size or 0 for i in installs if i.artifact)
    size = f", {commit_mod.human_size(total)}" if total else ""
    lines.append(f"download:  {len(installs)} wheels on the host ({max(1, min(options.jobs, len(installs)))} in parallel{size}), sha256 verified:")
    for item in installs:
        assert item.artifact is not None
        lines.append(f"           {item.artifact.filename}  ({item.artifact.index}, sha256:{item.artifact.sha256[:12]}...)")
    copied = f"{len(installs)} wheels -> {WHEEL_DIR}"
    libraries = libraries_for(steps.use_pip, plan.target.python_version) if installs else ()
    if libraries:
        copied += f", {' and '.join(libraries)} from this host -> {WORK_DIR}/lib"
    lines.append(f"copy:      {copied} (put_archive)")
    for step in steps.execs:
        lines.append(f"run:       {step.shell()}    # {step.purpose}")
        if step is steps.install and steps.use_pip and steps.python == steps.base_python and not steps.prepare:
            lines.append(
                "           (run by a pip started in the container while planning, if it could start; "
                f"see {WAITER_SCRIPT})"
            )
        if step is steps.verify:
            lines.append(
                f"           (one process: compiles what is left while checking requirements, imports once compiled, removes {WORK_DIR} when all passed)"
            )
    for item in plan.keeps:
        lines.append(f"keep:      {item.display_name} {item.version} ({item.source})")
    labels = ", ".join(f"{k}={v}" for k, v in {
        "org.muslin.version": __version__,
        "org.muslin.plan-hash": plan.plan_hash(),
        "org.muslin.base-digest": plan.image.digest or f"<digest of {reference}>",
    }.items())
    lines.append(f"commit:    {options.tag or '<--tag>'} with labels {labels}")
    if plan.venv.path:
        lines.append(f"           env VIRTUAL_ENV={plan.venv.path}, PATH={plan.venv.path.rstrip('/')}/bin:$PATH")
    lines.append("remove:    the container (also on failure or Ctrl-C)")
    return lines
