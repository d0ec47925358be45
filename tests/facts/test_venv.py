"""Virtual environments in an image: found by ``pyvenv.cfg``, the active one from the image's env."""

from __future__ import annotations

from pathlib import Path

from support.alpine_rootfs import SITE, Rootfs

from muslin.facts.hostdir import HostDirTree
from muslin.facts.inspector import inspect_tree
from muslin.facts.model import ImageConfig, ImageFacts, facts_from_cache, facts_to_cache

VENV_SITE = "opt/venv/lib/python3.11/site-packages"


def venv_image(root: Path, *, system: bool = True, version_line: str = "version = 3.11.6") -> Rootfs:
    fs = Rootfs(root).alpine_base().apk_python()
    fs.write("opt/venv/pyvenv.cfg", f"home = /usr/bin\ninclude-system-site-packages = {str(system).lower()}\n{version_line}\n")
    fs.symlink("opt/venv/bin/python", "/usr/bin/python3.11")
    fs.dist_info(VENV_SITE, "requests", "2.31.0", requires=["idna>=2"], top_level=["requests"])
    fs.dist_info(VENV_SITE, "pip", "24.0")
    fs.dist_info(SITE, "idna", "3.4")
    # a second environment, not on PATH
    fs.write("app/.venv/pyvenv.cfg", "home = /usr/bin\ninclude-system-site-packages = false\n")
    fs.mkdir("app/.venv/lib/python3.11/site-packages")
    return fs


def inspect(root: Path, env: tuple[str, ...]) -> ImageFacts:
    config = ImageConfig(env=env)
    return inspect_tree(HostDirTree(root), config, reference="dir:x", source="dir", digest=None)


def test_venvs_found_with_their_distributions_and_the_active_one_first(tmp_path: Path) -> None:
    venv_image(tmp_path)
    facts = inspect(tmp_path, ("PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin", "VIRTUAL_ENV=/opt/venv"))
    assert [(v.path, v.version, v.active, v.system_site_packages, v.has_pip) for v in facts.venvs] == [
        ("opt/venv", "3.11", True, True, True),
        ("app/.venv", "3.11", False, False, False),  # version from its only lib/python3.X
    ]
    assert facts.active_venv is facts.venvs[0]
    where = {d.name: d.site_packages for d in facts.distributions}
    assert where == {"requests": VENV_SITE, "pip": VENV_SITE, "idna": SITE}
    assert facts.to_dict()["venvs"][0]["site_packages"] == "/" + VENV_SITE
    assert facts_from_cache(facts_to_cache(facts)) == facts


def test_active_venv_comes_from_path_when_virtual_env_is_unset(tmp_path: Path) -> None:
    venv_image(tmp_path)
    on_path = inspect(tmp_path, ("PATH=/opt/venv/bin:/usr/bin:/bin",))
    assert on_path.active_venv is not None and on_path.active_venv.path == "opt/venv"
    behind = inspect(tmp_path, ("PATH=/usr/local/bin:/usr/bin:/opt/venv/bin",))
    assert behind.active_venv is None and len(behind.venvs) == 2  # found, but python3 is the system one


def test_environment_without_a_knowable_version_is_skipped(tmp_path: Path) -> None:
    fs = venv_image(tmp_path, version_line="")
    fs.mkdir("opt/venv/lib/python3.12/site-packages")  # two lib/python3.X: no way to tell
    facts = inspect(tmp_path, ("VIRTUAL_ENV=/opt/venv",))
    assert [v.path for v in facts.venvs] == ["app/.venv"]
