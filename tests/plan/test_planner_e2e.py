"""``muslin plan`` end to end: a real Alpine 3.18.3 tree, real wheels, real index servers.

The image is a ``dir:`` root filesystem: the real Alpine 3.18.3 skeleton
(``python3 3.11.6-r0`` from apk) plus Alpine's ``py3-mysqlclient 2.1.1-r3``
(an apk-owned ``mysqlclient-2.1.1-py3.11.egg-info``).  Two index servers on
127.0.0.1: ``musl`` (PEP 691 JSON, listed first) and the default index, named
``pypi`` (PEP 503 HTML).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomllib
from packaging.pylock import Pylock
from support.alpine_rootfs import Rootfs
from support.common import ALPINE_FIXTURE, need
from support.index_server import IndexServer
from support.wheels import build_sdist, build_wheel

from muslin.cli import cli
from muslin.cli.errors import run_guarded
from muslin.errors import AuthenticationError

MUSL_TAG = "cp311-cp311-musllinux_1_2_x86_64"
ABI3_MUSL = "cp37-abi3-musllinux_1_1_x86_64"


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    skeleton = ALPINE_FIXTURE / "skeleton.tar.zst"
    need(skeleton.exists(), f"fixture missing: {skeleton}")
    root = tmp_path_factory.mktemp("rootfs")
    subprocess.run(f"zstd -dc {skeleton} | tar -x -C {root}", shell=True, check=True, capture_output=True)
    Rootfs(root).mysqlclient_apk()
    return root


@dataclass
class Indexes:
    musl: IndexServer
    pypi: IndexServer
    pypi_dir: Path
    musl_dir: Path

    def args(self) -> list[str]:
        return ["--index", f"musl={self.musl.url}", "--default-index", self.pypi.url]

    def clear(self) -> None:
        self.musl.clear_requests()
        self.pypi.clear_requests()

    def paths(self) -> list[str]:
        return [p for _m, p, _h in self.musl.requests + self.pypi.requests]


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Indexes]:
    musl_dir = tmp_path_factory.mktemp("musl-index")
    pypi_dir = tmp_path_factory.mktemp("pypi-index")
    # the musl index: its own cryptography build
    build_wheel(musl_dir, "cryptography", "41.0.3", tags=ABI3_MUSL, requires=["cffi>=1.12"],
                files={"cryptography/__init__.py": "# musl index build\n"})
    # the PyPI stand-in
    build_wheel(pypi_dir, "cryptography", "41.0.3", tags=ABI3_MUSL, requires=["cffi>=1.12"],
                files={"cryptography/__init__.py": "# pypi build\n"})
    build_wheel(pypi_dir, "cryptography", "42.0.0", tags=ABI3_MUSL, requires=["cffi>=1.12"])
    build_wheel(pypi_dir, "cffi", "1.16.0", tags=MUSL_TAG, requires=["pycparser"])
    build_wheel(pypi_dir, "pycparser", "2.21")
    build_wheel(pypi_dir, "mysqlclient", "2.2.4", tags=MUSL_TAG)
    build_sdist(pypi_dir, "mysqlclient", "2.2.4")
    build_wheel(pypi_dir, "markerapp", "1.0", requires=[
        'oldonly ; python_version < "3.11"',
        'armonly ; platform_machine == "aarch64"',
        "plain>=1",
    ])
    for name in ("oldonly", "armonly", "plain"):
        build_wheel(pypi_dir, name, "1.0")
    build_sdist(pypi_dir, "sdistonly", "3.2.0")
    build_sdist(pypi_dir, "sdistonly", "3.2.1")
    build_wheel(pypi_dir, "sdistonly", "3.1.0", tags="cp311-cp311-manylinux_2_17_x86_64")
    build_wheel(pypi_dir, "sdistonly", "3.1.0", tags="cp311-cp311-win_amd64")
    build_wheel(pypi_dir, "x", "1")
    with IndexServer(musl_dir, mode="json") as musl, IndexServer(pypi_dir, mode="html") as pypi:
        yield Indexes(musl, pypi, pypi_dir, musl_dir)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MUSLIN_CACHE_DIR", str(tmp_path / "cache"))
    for var in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "UV_INDEX", "UV_DEFAULT_INDEX", "UV_INDEX_URL",
                "UV_EXTRA_INDEX_URL", "PIP_FIND_LINKS"):
        monkeypatch.delenv(var, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.out)
        return data

    def items(self) -> dict[str, dict[str, Any]]:
        return {i["name"]: i for i in self.json()["items"]}


def muslin(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    code = run_guarded(cli, list(args))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return Run(code, captured.out, captured.err)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_apk_owned_mysqlclient_is_kept_and_nothing_downloaded(
    capsys: pytest.CaptureFixture[str], image_root: Path, indexes: Indexes
) -> None:
    indexes.clear()
    run = muslin(capsys, "plan", f"dir:{image_root}", "mysqlclient==2.1.1", *indexes.args(), "--json")
    assert run.code == 0, run.err
    item = run.items()["mysqlclient"]
    assert item["action"] == "keep" and item["version"] == "2.1.1"
    assert item["source"] == "apk py3-mysqlclient 2.1.1-r3"
    assert item["artifact"] is None
    assert not [p for p in indexes.paths() if "mysqlclient" in p]
    data = run.json()
    assert data["target"]["platform_tag"] == "musllinux_1_2_x86_64"
    assert data["target"]["python_full_version"] == "3.11.6"
    assert data["apk_packages"] == [] and data["image"]["has_python"] is True
    assert data["venv"]["path"] is None  # Alpine 3.18: not externally managed


def test_pinned_package_comes_from_its_index(
    capsys: pytest.CaptureFixture[str], image_root: Path, indexes: Indexes
) -> None:
    indexes.clear()
    run = muslin(capsys, "plan", f"dir:{image_root}", "cryptography==41.0.3", *indexes.args(),
                 "--pin", "cryptography=pypi", "--json")
    assert run.code == 0, run.err
    items = run.items()
    art = items["cryptography"]["artifact"]
    assert art["index"] == "pypi" and items["cryptography"]["source"] == "pypi"
    assert art["sha256"] == sha256(indexes.pypi_dir / art["filename"])
    assert art["sha256"] != sha256(indexes.musl_dir / art["filename"])
    assert not [p for _m, p, _h in indexes.musl.requests if "cryptography" in p]
    assert items["cffi"]["requested_by"] == ["cryptography"]
    assert set(items) == {"cryptography", "cffi", "pycparser"}


def test_first_index_takes_the_musl_copy_and_says_so(
    capsys: pytest.CaptureFixture[str], image_root: Path, indexes: Indexes
) -> None:
    run = muslin(capsys, "plan", f"dir:{image_root}", "cryptography==41.0.3", *indexes.args(), "--json")
    assert run.code == 0, run.err
    crypto = run.items()["cryptography"]
    assert crypto["artifact"]["index"] == "musl"
    assert crypto["artifact"]["sha256"] == sha256(indexes.musl_dir / crypto["artifact"]["filename"])
    assert "first index listing it" in crypto["note"]
    table = muslin(capsys, "plan", f"dir:{image_root}", "cryptography==41.0.3", *indexes.args())
    assert table.code == 0
    assert "cryptography: from musl, the first index listing it" in table.out
    assert "3 to install, 0 kept" in table.out


def test_owning_index_lacks_the_version(
    capsys: pytest.CaptureFixture[str], image_root: Path, indexes: Indexes
) -> None:
    run = muslin(capsys, "plan", f"dir:{image_root}", "cryptography>=42", *indexes.args())
    assert run.code == 7
    assert "found on pypi but not at the requested version" in run.err
    assert "--pin cryptography=pypi" in run.err and "--index-strategy unsafe-best-match" in run.err
    best = muslin(capsys, "plan", f"dir:{image_root}", "cryptography>=42", *indexes.args(),
                  "--index-strategy", "unsafe-best-match", "--json")
    assert best.code == 0, best.err
    assert best.items()["cryptography"]["version"] == "42.0.0"


def test_markers_are_the_images(
    capsys: pytest.CaptureFixture[str], image_root: Path, indexes: Indexes
) -> None:
    amd = muslin(capsys, "plan", f"dir:{image_root}", "markerapp", *indexes.args(), "--json")
    assert amd.code == 0, amd.err
    assert set(amd.items()) == {"markerapp", "plain"}
    arm = muslin(capsys, "plan", f"dir:{image_root}", "markerapp", *indexes.args(),
                 "--platform", "linux/arm64", "--json")
    assert arm.code == 0, arm.err
    assert set(arm.items()) == {"markerapp", "plain", "armonly"}
    assert arm.json()["target"]["arch"] == "aarch64"


def test_conflict_with_apk_pin_exit_7(
    capsys: pytest.CaptureFixture[str], image_root: Path, indexes: Indexes
) -> None:
    run = muslin(capsys, "plan", f"dir:{image_root}", "mysqlclient>=2.2", *indexes.args())
    assert run.code == 7
    assert "py3-mysqlclient 2.1.1-r3" in run.err and "2.1.1" in run.err
    assert "--upgrade-system mysqlclient" in run.err
    assert run.out == ""


def test_upgrade_system_installs_into_a_venv(
    capsys: pytest.CaptureFixture[str], image_root: Path, indexes: Indexes
) -> None:
    run = muslin(capsys, "plan", f"dir:{image_root}", "mysqlclient>=2.2", *indexes.args(),
                 "--upgrade-system", "mysqlclient", "--json")
    assert run.code == 0, run.err
    item = run.items()["mysqlclient"]
    assert item["action"] == "install" and item["version"] == "2.2.4"
    assert item["artifact"]["filename"].endswith("musllinux_1_2_x86_64.whl")
    venv = run.json()["venv"]
    assert venv["path"] == "/opt/venv" and venv["system_site_packages"] is True
    refused = muslin(capsys, "plan", f"dir:{image_root}", "mysqlclient>=2.2", *indexes.args(),
                     "--upgrade-system", "mysqlclient", "--no-venv")
    assert refused.code == 2 and "venv" in refused.err


def test_no_wheel_for_target_exit_8(
    capsys: pytest.CaptureFixture[str], image_root: Path, indexes: Indexes
) -> None:
    run = muslin(capsys, "plan", f"dir:{image_root}", "sdistonly", *indexes.args())
    assert run.code == 8
    assert "no wheel for cp311-musllinux_1_2_x86_64; versions 3.2.x publish sdists only" in run.err
    assert "manylinux_2_17_x86_64" in run.err and "win_amd64" in run.err
    assert "py3-sdistonly" in run.err


def test_unknown_index_in_pin_exit_2(
    capsys: pytest.CaptureFixture[str], image_root: Path, indexes: Indexes
) -> None:
    run = muslin(capsys, "plan", f"dir:{image_root}", "x==1", *indexes.args(), "--pin", "x=nowhere")
    assert run.code == 2
    assert "nowhere" in run.err


def test_lock_outputs(
    capsys: pytest.CaptureFixture[str], image_root: Path, indexes: Indexes, isolated: Path
) -> None:
    run = muslin(capsys, "plan", f"dir:{image_root}", "cryptography==41.0.3", "mysqlclient==2.1.1",
                 *indexes.args(), "--pin", "cryptography=pypi",
                 "-o", "requirements.lock.txt", "-o", "pylock.toml")
    assert run.code == 0, run.err
    lock = (isolated / "requirements.lock.txt").read_text()
    crypto_sha = sha256(next(indexes.pypi_dir.glob("cryptography-41.0.3-*.whl")))
    assert "cryptography==41.0.3" in lock and f"--hash=sha256:{crypto_sha}" in lock
    assert "cffi==1.16.0" in lock
    pylock = Pylock.from_dict(tomllib.loads((isolated / "pylock.toml").read_text()))
    names = {str(p.name) for p in pylock.packages}
    assert {"cryptography", "cffi", "pycparser"} <= names


def test_offline_official_alpine_falls_back_to_the_profile(
    capsys: pytest.CaptureFixture[str], indexes: Indexes
) -> None:
    # fill the index cache with a --profile run, then plan offline
    warm = muslin(capsys, "plan", "alpine:3.18", "x==1", "--default-index", indexes.pypi.url,
                  "--profile", "alpine:3.18", "--json")
    assert warm.code == 0, warm.err
    assert "built-in profile" in warm.err
    run = muslin(capsys, "plan", "alpine:3.18", "--offline", "x==1", "--default-index", indexes.pypi.url,
                 "--json")
    assert run.code == 0, run.err
    assert "built-in profile of alpine:3.18" in run.err
    assert len([line for line in run.err.splitlines() if "profile" in line]) == 1
    data = run.json()
    assert data["image"]["from_profile"] is True and data["image"]["has_python"] is False
    # the release table pins py3-pip to 3.18's pip 23.1 (minor pin, as for python3)
    assert data["apk_packages"] == ["python3~3.11", "py3-pip~23.1"]
    assert data["target"]["python_version"] == "3.11"
    assert run.items()["x"]["version"] == "1"


def test_direct_reference_and_hash_checked_requirements(
    capsys: pytest.CaptureFixture[str], image_root: Path, indexes: Indexes, isolated: Path
) -> None:
    wheel = indexes.pypi_dir / "pycparser-2.21-py3-none-any.whl"
    digest = sha256(wheel)
    url = f"{indexes.pypi.base}/files/{wheel.name}#sha256={digest}"
    run = muslin(capsys, "plan", f"dir:{image_root}", f"pycparser @ {url}", *indexes.args(), "--json")
    assert run.code == 0, run.err
    art = run.items()["pycparser"]["artifact"]
    assert art["index"] == "direct" and art["sha256"] == digest and "#" not in art["url"]
    assert "direct" in [ix["name"] for ix in run.json()["indexes"]]

    good = isolated / "good.txt"
    good.write_text(f"plain==1.0 --hash=sha256:{sha256(indexes.pypi_dir / 'plain-1.0-py3-none-any.whl')}\n")
    ok = muslin(capsys, "plan", f"dir:{image_root}", "-r", str(good), *indexes.args(), "--json")
    assert ok.code == 0, ok.err
    assert ok.items()["plain"]["artifact"]["filename"] == "plain-1.0-py3-none-any.whl"
    bad = isolated / "bad.txt"
    bad.write_text("plain==1.0 --hash=sha256:" + "0" * 64 + "\n")
    refused = muslin(capsys, "plan", f"dir:{image_root}", "-r", str(bad), *indexes.args())
    assert refused.code == 7
    assert "--hash" in refused.err


def test_python_override_drops_the_images_pins(
    capsys: pytest.CaptureFixture[str], image_root: Path, indexes: Indexes
) -> None:
    # the apk-owned mysqlclient lives in python3.11's site-packages: a 3.12 target does not see it
    run = muslin(capsys, "plan", f"dir:{image_root}", "mysqlclient", *indexes.args(), "--python", "3.12")
    assert run.code == 8
    assert "no wheel for cp312-musllinux_1_2_x86_64" in run.err
    assert "its musllinux wheels for this arch are for cp311 only" in run.err
    ok = muslin(capsys, "plan", f"dir:{image_root}", "plain", *indexes.args(), "--python", "3.12", "--json")
    assert ok.code == 0, ok.err
    assert ok.json()["target"]["python_version"] == "3.12"
    assert any("targets 3.12" in w for w in ok.json()["warnings"])


def test_rich_table_on_a_terminal(
    capsys: pytest.CaptureFixture[str], image_root: Path, indexes: Indexes, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setenv("COLUMNS", "200")
    from muslin.output.plan import print_plan
    from muslin.plan.model import Plan

    run = muslin(capsys, "plan", f"dir:{image_root}", "cryptography==41.0.3", "mysqlclient", *indexes.args(),
                 "--json")
    assert run.code == 0, run.err
    plan = Plan.from_dict(run.json())
    out = io.StringIO()
    print_plan(plan, out, tty=True)
    text = out.getvalue()
    for needle in ("NAME", "SIZE", "cryptography", "keep", "apk py3-mysqlclient 2.1.1-r3",
                   "3 to install, 1 kept", "installed by apk: py3-mysqlclient 2.1.1-r3"):
        assert needle in text, needle


def test_alpine_wheels_index_needs_accept_linux_tags(
    capsys: pytest.CaptureFixture[str], image_root: Path, tmp_path: Path
) -> None:
    root = tmp_path / "alpine-wheels"
    build_wheel(root, "lxmlish", "5.0.0", tags="cp311-cp311-linux_x86_64", requires_python=">=3.6")
    with IndexServer(root, mode="alpine-wheels") as aw:
        args = ["--index", f"aw={aw.url}", "--default-index", aw.url]
        refused = muslin(capsys, "plan", f"dir:{image_root}", "lxmlish", *args)
        assert refused.code == 8
        assert "no wheel for cp311-musllinux_1_2_x86_64" in refused.err
        assert "linux_x86_64" in refused.err
        run = muslin(capsys, "plan", f"dir:{image_root}", "lxmlish", *args, "--accept-linux-tags", "aw", "--json")
        assert run.code == 0, run.err
        art = run.items()["lxmlish"]["artifact"]
        assert art["index"] == "aw" and art["filename"].endswith("linux_x86_64.whl")
        assert art["sha256"] == sha256(root / art["filename"])


def test_pin_to_an_index_without_the_package(
    capsys: pytest.CaptureFixture[str], image_root: Path, indexes: Indexes
) -> None:
    run = muslin(capsys, "plan", f"dir:{image_root}", "cryptography==41.0.3", *indexes.args(), "--pin", "cffi=musl")
    assert run.code == 7
    assert "you -> cryptography 41.0.3 -> cffi>=1.12: cffi is pinned to index musl" in run.err


@pytest.mark.parametrize("how", ["env", "netrc"])
def test_credentials_from_env_or_netrc_mark_the_index_as_private(
    capsys: pytest.CaptureFixture[str],
    image_root: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    """An index whose credentials come from MUSLIN_INDEX_<NAME>_* or .netrc needs a build secret."""
    private_dir = tmp_path_factory.mktemp("private-index")
    build_wheel(private_dir, "x", "1")
    user, password = "ci-user", "pw-from-" + how
    with IndexServer(private_dir, mode="html", basic_auth=(user, password)) as private:
        if how == "env":
            monkeypatch.setenv("MUSLIN_INDEX_PRIV_USERNAME", user)
            monkeypatch.setenv("MUSLIN_INDEX_PRIV_PASSWORD", password)
        else:
            netrc = tmp_path_factory.mktemp("netrc") / "netrc"
            netrc.write_text(f"machine 127.0.0.1 login {user} password {password}\n")
            netrc.chmod(0o600)
            monkeypatch.setenv("NETRC", str(netrc))
        run = muslin(capsys, "plan", f"dir:{image_root}", "x==1", "--default-index", private.url,
                     "--index", f"priv={private.url}", "--pin", "x=priv", "--json")
    assert run.code == 0, run.err
    refs = {ix["name"]: ix for ix in run.json()["indexes"]}
    assert refs["priv"]["needs_credentials"] is True
    assert password not in run.out + run.err


def test_direct_reference_with_credentials_in_its_url(
    capsys: pytest.CaptureFixture[str], image_root: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """``name @ https://user:pw@host/x.whl#sha256=...``: the credentials authenticate the metadata
    read and the install's download, and appear in no output; the Dockerfile asks for a secret."""
    from muslin.install.fetch import client_for, fetch_wheels
    from muslin.plan.planner import PlanRequest, make_plan

    files = tmp_path_factory.mktemp("private-files")
    wheel = build_wheel(files, "x", "1")
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    user, password = "deploy", "direct-secret-pw"
    with IndexServer(files, mode="html", basic_auth=(user, password)) as srv:
        url = f"{srv.base.replace('http://', f'http://{user}:{password}@')}/files/{wheel.name}#sha256={sha}"
        lock, dockerfile = tmp_path / "lock.txt", tmp_path / "Dockerfile"
        run = muslin(capsys, "plan", f"dir:{image_root}", f"x @ {url}", "--json", "-o", str(lock))
        assert run.code == 0, run.err
        rendered = muslin(capsys, "dockerfile", f"dir:{image_root}", f"x @ {url}", "-o", str(dockerfile),
                          "--venv", "/opt/venv", "--base-image", "alpine:3.18")
        assert rendered.code == 0, rendered.err
        doc = run.json()
        (item,) = [i for i in doc["items"] if i["name"] == "x"]
        assert item["artifact"]["url"] == f"{srv.base}/files/{wheel.name}"
        assert {ix["name"]: ix["needs_credentials"] for ix in doc["indexes"]}["direct"] is True
        written = lock.read_text() + dockerfile.read_text()
        assert "--mount=type=secret" in dockerfile.read_text()
        for text in (run.out, run.err, rendered.out, rendered.err, written):
            assert password not in text
        assert any(p.startswith("/files/x-1") and "authorization" in {k.lower() for k in h}
                   for _m, p, h in srv.requests)
        # muslin install's downloads use the same credentials (held in memory only)
        outcome = make_plan(PlanRequest(image=f"dir:{image_root}", requirements=(f"x @ {url}",)))
        assert outcome.direct_urls and password not in json.dumps(outcome.plan.to_dict())
        (planned,) = [i for i in outcome.plan.installs if i.name == "x"]
        with client_for(outcome.plan) as anonymous, pytest.raises(AuthenticationError):
            fetch_wheels([planned], anonymous, tmp_path / "staging-anon")
        srv.clear_requests()
        with client_for(outcome.plan, urls=outcome.direct_urls) as http:
            (path,) = fetch_wheels([planned], http, tmp_path / "staging")
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
        assert [p for _m, p, h in srv.requests if "authorization" in {k.lower() for k in h}] == [
            f"/files/{wheel.name}"
        ]


def test_no_index_uses_find_links_only(
    capsys: pytest.CaptureFixture[str], image_root: Path, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    wheels = tmp_path_factory.mktemp("local-wheels")
    build_wheel(wheels, "x", "1", requires=["y"])
    build_wheel(wheels, "y", "2")
    run = muslin(capsys, "plan", f"dir:{image_root}", "x", "--find-links", str(wheels), "--no-index", "--json")
    assert run.code == 0, run.err
    doc = run.json()
    assert [(i["name"], i["version"]) for i in doc["items"]] == [("x", "1"), ("y", "2")]
    assert [ix["kind"] for ix in doc["indexes"]] == ["find-links"]  # no PyPI
    assert doc["command"].endswith("--no-index")
    missing = muslin(capsys, "plan", f"dir:{image_root}", "x", "z", "--find-links", str(wheels), "--no-index")
    assert missing.code == 7 and "z" in missing.err


def test_remote_requirements_files(
    capsys: pytest.CaptureFixture[str], image_root: Path, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """``-r https://...`` (pip's remote requirements files): includes resolve against the URL,
    credentials in it are used and shown nowhere, the HTTP cache serves ``--offline``, a 404 is
    one error line."""
    root = tmp_path_factory.mktemp("remote-reqs")
    build_wheel(root, "x", "1", requires=["y"])
    build_wheel(root, "y", "2")
    (root / "reqs.txt").write_text("-r base.txt\n-c pins.txt\nx\n")
    (root / "base.txt").write_text("y>=1\n")
    (root / "pins.txt").write_text("y==2\n")
    user, password = "reader", "remote-reqs-pw"
    with IndexServer(root, mode="json", basic_auth=(user, password)) as srv:
        authed = srv.base.replace("http://", f"http://{user}:{password}@")
        index = srv.url.replace("http://", f"http://{user}:{password}@")
        args = ["plan", f"dir:{image_root}", "-r", f"{authed}/files/reqs.txt", "--default-index", index, "--json"]
        run = muslin(capsys, *args)
        assert run.code == 0, run.err
        doc = run.json()
        assert {(i["name"], i["version"]) for i in doc["items"]} == {("x", "1"), ("y", "2")}
        shown = [f["path"] for f in doc["inputs"]]
        assert f"{srv.base}/files/reqs.txt" in shown and f"{srv.base}/files/base.txt" in shown
        assert password not in run.out + run.err
        missing = muslin(capsys, "plan", f"dir:{image_root}", "-r", f"{authed}/files/nope.txt", "--default-index", index)
        assert missing.code == 2 and missing.err.count("\n") == 1, missing.err
        assert "nope.txt: cannot read requirements file: HTTP 404" in missing.err and password not in missing.err
    offline = muslin(capsys, *args, "--offline")  # the server is gone: pages and files come from the cache
    assert offline.code == 0, offline.err


def test_the_images_own_venv_is_the_environment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """``--venv`` naming a virtual environment the image has: its packages (and, with
    include-system-site-packages, the system's) are the fixed pins, and nothing creates it."""
    from support.alpine_rootfs import SITE

    root = tmp_path / "root"
    fs = Rootfs(root).alpine_base().apk_python()
    fs.write("opt/venv/pyvenv.cfg", "home = /usr/bin\ninclude-system-site-packages = true\nversion = 3.11.6\n")
    venv_site = "opt/venv/lib/python3.11/site-packages"
    fs.dist_info(venv_site, "requests", "2.31.0", requires=["idna>=2"])
    fs.dist_info(venv_site, "pip", "24.0")
    fs.dist_info(SITE, "idna", "3.4")
    index_dir = tmp_path_factory.mktemp("venv-index")
    build_wheel(index_dir, "requests", "2.32.0", requires=["idna>=2"])
    build_wheel(index_dir, "idna", "3.6")
    build_wheel(index_dir, "x", "1")
    with IndexServer(index_dir, mode="json") as srv:
        run = muslin(capsys, "plan", f"dir:{root}", "requests", "idna", "x", "--default-index", srv.url,
                     "--venv", "/opt/venv", "--json")
        assert run.code == 0, run.err
        doc = run.json()
        actions = {i["name"]: (i["action"], i["version"]) for i in doc["items"]}
        assert actions == {"requests": ("keep", "2.31.0"), "idna": ("keep", "3.4"), "x": ("install", "1")}
        assert doc["venv"]["path"] == "/opt/venv" and doc["venv"]["exists"] is True
        out = tmp_path / "Dockerfile"
        rendered = muslin(capsys, "dockerfile", f"dir:{root}", "requests", "idna", "x", "--default-index",
                          srv.url, "--venv", "/opt/venv", "--base-image", "alpine:3.18", "-o", str(out))
        assert rendered.code == 0, rendered.err
    text = out.read_text()
    assert "-m venv" not in text and "/opt/venv/bin/python -m pip install" in text
    assert "# The image's own virtual environment /opt/venv" in text


@pytest.mark.parametrize(
    ("strategy", "wanted", "expected"),
    [
        ("unsafe-first-match", "cryptography", ("41.0.3", "musl")),  # the first index's versions first
        ("unsafe-first-match", "cryptography>41.0.3", ("42.0.0", "pypi")),  # then the next index's
        ("unsafe-best-match", "cryptography", ("42.0.0", "pypi")),  # the newest anywhere
    ],
)
def test_unsafe_index_strategies(
    capsys: pytest.CaptureFixture[str], image_root: Path, indexes: Indexes, strategy: str, wanted: str,
    expected: tuple[str, str],
) -> None:
    run = muslin(capsys, "plan", f"dir:{image_root}", wanted, *indexes.args(), "--index-strategy", strategy, "--json")
    assert run.code == 0, run.err
    (item,) = [i for i in run.json()["items"] if i["name"] == "cryptography"]
    assert (item["version"], item["source"]) == expected
