"""Install pieces that need no Docker: tar streams, steps, verification helpers, commit config, contexts."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from install_helpers import fixture_image_info, make_plan

from muslin.errors import DockerError, UsageError
from muslin.install.archive import SPOOL_LIMIT, TarEntry, build_tar
from muslin.install.commit import commit_config, human_size, image_labels, parse_tag
from muslin.install.container import InstallOptions, check_plan, image_reference
from muslin.install.dockerhost import context_endpoint
from muslin.install.dryrun import describe_install
from muslin.install.payload import libraries_for, payload_entries
from muslin.install.steps import SCRIPT_DIR, WHEEL_DIR, make_steps
from muslin.install.verify import top_level_modules, verify_failures
from muslin.plan.model import VenvDecision
from tests.support.wheels import build_wheel

SCRIPTS = Path(__file__).resolve().parents[2] / "src" / "muslin" / "install" / "scripts"
IMAGE = "muslin-test/musl-python:3.11"


@pytest.fixture
def wheels(tmp_path: Path) -> list[Path]:
    return [
        build_wheel(tmp_path, "alpha", "1.0"),
        build_wheel(tmp_path, "beta-pkg", "2.0", requires=["alpha>=1"]),
    ]


# -- tar streams --------------------------------------------------------------


def test_build_tar_members_owned_by_root(tmp_path: Path) -> None:
    src = tmp_path / "f.bin"
    src.write_bytes(b"x" * 1000)
    entries = [TarEntry("tmp/w"), TarEntry("tmp/w/f.bin", source=src), TarEntry("tmp/w/s.py", data=b"print(1)\n", mode=0o755)]
    with build_tar(entries) as stream, tarfile.open(fileobj=stream) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert list(members) == ["tmp/w", "tmp/w/f.bin", "tmp/w/s.py"]
        assert members["tmp/w"].isdir() and members["tmp/w"].mode == 0o755
        assert all(m.uid == 0 and m.gid == 0 for m in members.values())
        assert members["tmp/w/s.py"].mode == 0o755
        extracted = tar.extractfile("tmp/w/f.bin")
        assert extracted is not None and extracted.read() == b"x" * 1000


def test_build_tar_spills_large_streams_to_disk(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"\0" * (SPOOL_LIMIT + 1))
    with build_tar([TarEntry("big", source=big)]) as stream:
        assert stream._rolled  # type: ignore[attr-defined]
        assert stream.read(512)[:3] == b"big"


def test_payload_has_wheels_scripts_and_helpers(wheels: list[Path]) -> None:
    named = [(w.name, w) for w in wheels]
    names = {e.name for e in payload_entries(named, ("installer", "packaging"))}
    assert f"{WHEEL_DIR.lstrip('/')}/{wheels[0].name}" in names
    assert f"{SCRIPT_DIR.lstrip('/')}/import_modules.py" in names
    assert any(n.endswith("/lib/installer/__init__.py") for n in names)
    assert any(n.endswith("/lib/packaging/requirements.py") for n in names)
    assert not any("__pycache__" in n for n in names)
    assert f"{SCRIPT_DIR.lstrip('/')}/verify_installed.py" in names
    pip_path = {e.name for e in payload_entries(named, libraries_for(True, "3.11"))}
    assert any(n.endswith("/lib/packaging/requirements.py") for n in pip_path)
    assert not any("/lib/installer/" in n for n in pip_path)
    assert libraries_for(False, "3.11") == ("packaging", "installer")


# -- steps --------------------------------------------------------------------


def test_steps_with_pip(wheels: list[Path]) -> None:
    plan = make_plan(fixture_image_info(IMAGE), wheels, "http://127.0.0.1:1/")
    steps = make_steps(plan, tuple(w.name for w in wheels), ("alpha", "beta_pkg"))
    assert steps.use_pip and steps.python == "/usr/bin/python3.11"
    assert steps.install is not None
    argv = steps.install.argv
    assert argv[:4] == ("/usr/bin/python3.11", "-m", "pip", "install")
    assert {"--no-index", "--no-deps", "--no-compile"} <= set(argv)
    assert argv[-2:] == tuple(f"{WHEEL_DIR}/{w.name}" for w in wheels)
    assert "PIP_BREAK_SYSTEM_PACKAGES" not in steps.install.env
    assert steps.verify is not None and steps.verify.argv[1] == f"{SCRIPT_DIR}/verify_installed.py"
    assert steps.verify.argv[2:] == (f"{SCRIPT_DIR.rsplit('/', 1)[0]}/lib", "/tmp/muslin-install", "alpha", "beta-pkg", "--", "alpha", "beta_pkg")
    assert steps.cleanup is None  # the verify step removes the work directory
    assert steps.prepare == ()
    assert steps.idle_commands[0] == ("/bin/sleep", "2147483647")


def test_steps_without_pip_use_installer(wheels: list[Path]) -> None:
    plan = make_plan(fixture_image_info(IMAGE, has_pip=False), wheels, "http://127.0.0.1:1/")
    steps = make_steps(plan, tuple(w.name for w in wheels), ())
    assert not steps.use_pip
    assert steps.install is not None and steps.install.argv[1] == f"{SCRIPT_DIR}/install_wheels.py"
    assert steps.verify is not None and steps.verify.argv[-3:] == ("alpha", "beta-pkg", "--")  # no modules to import


def test_steps_venv_and_break_system_packages(wheels: list[Path]) -> None:
    venv = make_plan(fixture_image_info(IMAGE), wheels, "http://x/", venv=VenvDecision("/opt/venv", True, "PEP 668"))
    steps = make_steps(venv, ("a.whl",), None)
    assert steps.prepare[0].argv == (
        "/usr/bin/python3.11", "-m", "venv", "--without-pip", "--system-site-packages", "/opt/venv",
    )
    assert steps.python == "/opt/venv/bin/python" and steps.use_pip
    isolated = make_plan(fixture_image_info(IMAGE), wheels, "http://x/", venv=VenvDecision("/opt/venv", False))
    assert not make_steps(isolated, ("a.whl",), None).use_pip  # system pip invisible in the venv
    breaking = make_plan(fixture_image_info(IMAGE), wheels, "http://x/", venv=VenvDecision(None, True, "", True))
    install = make_steps(breaking, ("a.whl",), None).install
    assert install is not None and install.env["PIP_BREAK_SYSTEM_PACKAGES"] == "1"


def test_steps_for_the_images_own_venv_create_nothing(wheels: list[Path]) -> None:
    own = VenvDecision("/opt/venv", True, "the image's active virtual environment", exists=True)
    steps = make_steps(make_plan(fixture_image_info(IMAGE), wheels, "http://x/", venv=own), ("a.whl",), None)
    assert not [e for e in steps.prepare if "venv" in e.argv]
    assert steps.python == "/opt/venv/bin/python" and steps.env_changes == {}


def test_apk_packages_need_a_network(wheels: list[Path]) -> None:
    from dataclasses import replace

    plan = replace(make_plan(fixture_image_info(IMAGE), wheels, "http://x/"), apk_packages=("python3~3.11", "py3-pip"))
    with pytest.raises(UsageError, match="--network"):
        check_plan(plan, InstallOptions(tag="a:b"))
    check_plan(plan, InstallOptions(tag="a:b", network="bridge"))
    steps = make_steps(plan, ("a.whl",), None)
    assert steps.prepare[0].argv == ("apk", "add", "--no-cache", "python3~3.11", "py3-pip")


def test_image_reference_strips_source_prefix(wheels: list[Path]) -> None:
    from dataclasses import replace

    plan = make_plan(fixture_image_info(IMAGE), wheels, "http://x/")
    assert image_reference(replace(plan, image=replace(plan.image, pull_reference="docker:" + IMAGE))) == IMAGE
    with pytest.raises(UsageError, match="load it into Docker"):
        image_reference(replace(plan, image=replace(plan.image, pull_reference=None)))


def test_dry_run_lists_everything(wheels: list[Path]) -> None:
    plan = make_plan(fixture_image_info(IMAGE), wheels, "http://127.0.0.1:1/", venv=VenvDecision("/opt/venv", True))
    text = "\n".join(describe_install(plan, InstallOptions(tag="app:py", network=None)))
    assert "network none" in text and "org.muslin.role=install" in text
    assert wheels[0].name in text and "sha256:" in text
    assert "-m venv --without-pip --system-site-packages /opt/venv" in text
    assert "/opt/venv/bin/python -m pip install --no-index --no-deps" in text
    assert plan.plan_hash() in text and "app:py" in text
    assert "VIRTUAL_ENV=/opt/venv" in text


# -- verification helpers -----------------------------------------------------


def test_top_level_modules_from_wheel_contents(tmp_path: Path) -> None:
    wheel = build_wheel(
        tmp_path,
        "mixed",
        "1.0",
        tags="cp311-cp311-musllinux_1_2_x86_64",
        files={
            "mixed/__init__.py": "",
            "_mixed_speedups.cpython-311-x86_64-linux-musl.so": b"\x7fELF",
            "single.py": "",
            "nsdir/sub/__init__.py": "",
            "tests/test_x.py": "",
            "mixed-1.0.data/purelib/extra_mod/__init__.py": "",
            "mixed-1.0.data/scripts/tool": "#!python\n",
            "mixed-1.0.data/headers/h.h": "",
        },
    )
    assert top_level_modules(wheel) == ("_mixed_speedups", "extra_mod", "mixed", "nsdir", "single")


def test_top_level_modules_bad_wheel(tmp_path: Path) -> None:
    bad = tmp_path / "bad-1.0-py3-none-any.whl"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DockerError, match="not a readable wheel"):
        top_level_modules(bad)


def test_verify_failures_from_the_verify_output() -> None:
    ok = ["compiled 0 files the install step left; 3 of 3 files byte-compiled", "warning (not caused by this install): old 1.0 requires gone, which is not installed.",
          "No broken requirements found.", "importing alpha", "verify: compile=0 requirements=0 imports=0"]
    assert verify_failures(ok, [], 0) == ([], ["old 1.0 requires gone, which is not installed."])
    bad = ["compiled 3 of 3 files", "needy 1.0 requires absentdep, which is not installed.", "importing needy",
           "a banner printed on import", "verify: compile=0 requirements=1 imports=1"]
    failures, _ = verify_failures(bad, ["FAILED needy: ImportError: libx.so"], 1)
    assert failures == [
        "requirements check: needy 1.0 requires absentdep, which is not installed.",
        "import needy: ImportError: libx.so",
    ]
    died = ["compiled 3 of 3 files", "No broken requirements found.", "importing alpha", "importing crashy"]
    assert verify_failures(died, [], -11)[0] == ["import crashy: the interpreter died (exit code -11)"]
    assert verify_failures([], ["Traceback", "MemoryError"], 1)[0] == ["byte-compiling failed (exit code 1): MemoryError"]


def test_verify_script_in_one_process(tmp_path: Path) -> None:
    """verify_installed.py on the host: compiles a dist's files, checks, imports, removes the work dir."""
    import os

    import packaging

    site = tmp_path / "site"
    pkg = site / "demo_verify"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("VALUE = 1\n")
    info = site / "demo_verify-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-verify\nVersion: 1.0\n\n")
    (info / "WHEEL").write_text("Wheel-Version: 1.0\nTag: py3-none-any\n")
    (info / "RECORD").write_text("demo_verify/__init__.py,,\ndemo_verify-1.0.dist-info/METADATA,,\n")
    work = tmp_path / "work"
    work.mkdir()
    lib = str(Path(packaging.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"}
    script = [sys.executable, str(SCRIPTS / "verify_installed.py"), lib, str(work)]
    # (compile_installed only looks in sysconfig's site-packages: nothing to compile here; the docker tests compile)
    result = subprocess.run([*script, "demo-verify", "--", "demo_verify", "json"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "verify: compile=0 requirements=0 imports=0"
    assert "importing demo_verify" in result.stdout
    assert not work.exists()  # removed once everything passed
    work.mkdir()
    failed = subprocess.run([*script, "demo-verify", "--", "no_such_module_xyz"], capture_output=True, text=True, env=env)
    assert failed.returncode == 1
    assert failed.stdout.splitlines()[-1] == "verify: compile=0 requirements=0 imports=1"
    assert work.exists()  # kept: nothing will be committed anyway


def _run_script(name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPTS / name), *args], capture_output=True, text=True, env=env)


def test_import_modules_script_reports_failures() -> None:
    ok = _run_script("import_modules.py", "json", "csv")
    assert ok.returncode == 0 and "importing json" in ok.stdout
    bad = _run_script("import_modules.py", "json", "no_such_module_xyz")
    assert bad.returncode == 1
    assert "FAILED no_such_module_xyz: ModuleNotFoundError" in bad.stderr


def test_check_requirements_script_on_host() -> None:
    import packaging

    lib = str(Path(packaging.__file__).parent.parent)
    result = _run_script("check_requirements.py", lib, "muslin")
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_requirements_script_finds_missing(tmp_path: Path) -> None:
    import os

    import packaging

    info = tmp_path / "needsx-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: needsx\nVersion: 1.0\nRequires-Dist: missingdep>=1\n"
        "Requires-Dist: other; python_version < '3'\n\n"
    )
    lib = str(Path(packaging.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = _run_script("check_requirements.py", lib, "needsx", env=env)
    assert result.returncode == 1
    assert result.stdout.splitlines() == ["needsx 1.0 requires missingdep, which is not installed."]
    unrelated = _run_script("check_requirements.py", lib, "somethingelse", env=env)
    assert unrelated.returncode == 0
    assert "warning (not caused by this install): needsx 1.0 requires missingdep" in unrelated.stdout


# -- commit -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("myapp:py", ("myapp", "py")),
        ("myapp", ("myapp", "latest")),
        ("localhost:5000/team/app:1.2-rc", ("localhost:5000/team/app", "1.2-rc")),
    ],
)
def test_parse_tag(ref: str, expected: tuple[str, str]) -> None:
    assert parse_tag(ref) == expected


@pytest.mark.parametrize("ref", ["MyApp:py", "app:", "app@sha256:" + "0" * 64, "app:bad tag", ""])
def test_parse_tag_rejects(ref: str) -> None:
    with pytest.raises(UsageError):
        parse_tag(ref)


def test_commit_config_restores_base_config(wheels: list[Path]) -> None:
    plan = make_plan(fixture_image_info(IMAGE), wheels, "http://x/")
    base = {"Id": "sha256:abc", "RepoDigests": [], "Config": {"Cmd": None, "Entrypoint": None, "Env": None, "Labels": None}}
    labels = image_labels(plan, base)
    assert labels["org.muslin.base-digest"] == "sha256:abc"
    assert labels["org.muslin.plan-hash"] == plan.plan_hash()
    conf = commit_config(base, labels, None)
    assert conf["Entrypoint"] == []
    assert conf["Labels"]["org.muslin.role"] == "image"
    assert conf["Env"] is None
    base_env = {"Config": {"Entrypoint": ["tini"], "Env": ["PATH=/usr/bin:/bin", "LANG=C"], "Labels": {"a": "b"}}}
    venv = commit_config(base_env, labels, "/opt/venv")
    assert venv["Entrypoint"] == ["tini"]
    assert venv["Env"] == ["LANG=C", "VIRTUAL_ENV=/opt/venv", "PATH=/opt/venv/bin:/usr/bin:/bin"]
    assert venv["Labels"]["a"] == "b"


def test_human_size() -> None:
    assert human_size(999) == "999 B"
    assert human_size(50_100_000) == "50.1 MB"
    assert human_size(-2_000) == "-2.0 kB"


# -- Docker contexts ----------------------------------------------------------


def _write_context(config_dir: Path, name: str, host: str, current: bool = True) -> None:
    if current:
        (config_dir / "config.json").write_text(json.dumps({"currentContext": name}))
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config_dir / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}}})
    )


def test_context_endpoint_from_config(tmp_path: Path) -> None:
    _write_context(tmp_path, "remote", "tcp://10.0.0.5:2376")
    env = {"DOCKER_CONFIG": str(tmp_path)}
    endpoint = context_endpoint(env)
    assert endpoint is not None and endpoint.host == "tcp://10.0.0.5:2376" and endpoint.context == "remote"
    assert context_endpoint({**env, "DOCKER_HOST": "unix:///x.sock"}) is None
    assert context_endpoint({**env, "DOCKER_CONTEXT": "default"}) is None
    with pytest.raises(DockerError, match="context 'other' not found"):
        context_endpoint({**env, "DOCKER_CONTEXT": "other"})


def test_context_endpoint_absent_config(tmp_path: Path) -> None:
    assert context_endpoint({"DOCKER_CONFIG": str(tmp_path)}) is None
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(DockerError, match="cannot read"):
        context_endpoint({"DOCKER_CONFIG": str(tmp_path)})



# -- downloads ----------------------------------------------------------------


def test_fetch_wheels_parallel_verified_and_cached(tmp_path: Path) -> None:
    from muslin.index.http import HttpClient
    from muslin.install.fetch import fetch_wheels
    from tests.support.index_server import IndexServer

    root = tmp_path / "index"
    built = [build_wheel(root, f"pkg{i}", "1.0", padding=20_000) for i in range(6)]
    with IndexServer(root, mode="html") as server, HttpClient(cache_dir=tmp_path / "cache") as http:
        plan = make_plan(fixture_image_info(IMAGE), built, server.base)
        paths = fetch_wheels(plan.installs, http, tmp_path / "staging", jobs=4)
        assert [p.read_bytes() for p in paths] == [w.read_bytes() for w in built]
        assert len([r for r in server.requests if r[1].startswith("/files/")]) == 6
        server.clear_requests()
        again = fetch_wheels(plan.installs, http, tmp_path / "staging2", jobs=4)
        assert [p.read_bytes() for p in again] == [w.read_bytes() for w in built]
        assert server.requests == []  # served from the shared download cache


def test_fetch_wheels_hash_mismatch(tmp_path: Path) -> None:
    from muslin.errors import HashMismatchError
    from muslin.index.http import HttpClient
    from muslin.install.fetch import fetch_wheels
    from tests.support.index_server import IndexServer

    root = tmp_path / "index"
    good = build_wheel(root, "good", "1.0")
    bad = build_wheel(root, "bad", "1.0")
    with IndexServer(root, mode="html") as server, HttpClient(cache_dir=tmp_path / "cache") as http:
        plan = make_plan(fixture_image_info(IMAGE), [good, bad], server.base)
        server.set_file_bytes(bad.name, b"tampered")
        with pytest.raises(HashMismatchError, match=r"hash mismatch for bad-1\.0"):
            fetch_wheels(plan.installs, http, tmp_path / "staging")
        assert not (tmp_path / "staging" / bad.name).exists()


def test_steps_bytecode_environment(wheels: list[Path]) -> None:
    plan = make_plan(fixture_image_info(IMAGE), wheels, "http://x/")
    shipped = make_steps(plan, ("a.whl",), ("a",))
    assert all(e.env.get("PYTHONDONTWRITEBYTECODE") == "1" for e in shipped.execs)
    stripped = make_steps(plan, ("a.whl",), ("a",), image_has_bytecode=False)
    assert all(e.env.get("PYTHONPYCACHEPREFIX") == "/dev/shm/muslin-pycache" for e in stripped.execs)
    assert stripped.install is not None and stripped.install.env["PIP_ROOT_USER_ACTION"] == "ignore"


# -- pip_waiter.py --------------------------------------------------------------


def _waiter(tmp_path: Path, request: dict[str, object] | None, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run pip_waiter.py on this host; the go file is written once the waiter runs."""
    import os
    import time

    tmp_path.mkdir(parents=True, exist_ok=True)
    go = tmp_path / "go.json"
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "pip_waiter.py"), str(go), str(tmp_path / "pycache"), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},  # as the prestart starts it
    )
    try:
        if request is not None:
            time.sleep(0.3)
            partial = go.with_suffix(".tmp")
            partial.write_text(json.dumps(request))
            partial.rename(go)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_pip_waiter_runs_pip_for_its_own_interpreter(tmp_path: Path) -> None:
    request = {"python": sys.executable, "args": ["--version"], "env": {"PIP_DISABLE_PIP_VERSION_CHECK": "1"}}
    result = _waiter(tmp_path, request)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("pip ")
    failing = _waiter(tmp_path / "b", {"python": sys.executable, "args": ["install", "--no-index", "no-such-pkg-xyz"]})
    assert failing.returncode == 1 and "no-such-pkg-xyz" in failing.stderr


def test_pip_waiter_declines_other_interpreters_and_exit(tmp_path: Path) -> None:
    from muslin.install.prestart import WAITER_NOT_USED

    other = _waiter(tmp_path / "a", {"python": "/nonexistent/python3", "args": ["--version"], "env": {}})
    assert other.returncode == WAITER_NOT_USED and other.stdout == ""
    told = _waiter(tmp_path / "b", {"exit": True})
    assert told.returncode == WAITER_NOT_USED and told.stdout == ""
    warm_only = _waiter(tmp_path / "c", None, "--no-pip")
    assert warm_only.returncode == 0 and warm_only.stdout == ""


def test_pip_waiter_compile_helper_writes_what_import_would(tmp_path: Path) -> None:
    """The waiter's helper compiles a package into the pycache prefix exactly as import does:
    same header (magic, timestamp flags, source mtime and size), same code; import then loads
    its files and writes none of its own."""
    import marshal

    pkg = tmp_path / "src" / "helped"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from helped.sub import b\nVALUE = b.twice(21)\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def twice(x):\n    return 2 * x\n")
    (pkg / "broken.py").write_text("def (:\n")  # skipped: it is never imported
    helped, imported = tmp_path / "helped-cache", tmp_path / "import-cache"
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); sys.pycache_prefix = sys.argv[2];"
        "sys.dont_write_bytecode = False; import pip_waiter as w;"
        "w._compile_tree(w._package_dir('helped')) if sys.argv[3] == 'helper' else __import__('helped')"
    )
    env = {"PYTHONPATH": str(tmp_path / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run([sys.executable, "-c", code, str(SCRIPTS), str(helped), "helper"], check=True, env=env)
    subprocess.run([sys.executable, "-c", code, str(SCRIPTS), str(imported), "import"], check=True, env=env)
    ours = sorted(p.relative_to(helped) for p in helped.rglob("*.pyc") if "helped" in p.parts)
    theirs = sorted(p.relative_to(imported) for p in imported.rglob("*.pyc") if "helped" in p.parts)
    assert theirs and ours == theirs  # every module (not broken.py), at the same paths
    for rel in ours:
        a, b = (helped / rel).read_bytes(), (imported / rel).read_bytes()
        assert a[:16] == b[:16] and marshal.loads(a[16:]) == marshal.loads(b[16:]), rel
    assert len(ours) == 3
    before = {rel: (helped / rel).stat().st_mtime_ns for rel in ours}
    subprocess.run(
        [sys.executable, "-c", "import helped, sys; assert helped.VALUE == 42"],
        check=True, env={"PYTHONPATH": str(tmp_path / "src"), "PYTHONPYCACHEPREFIX": str(helped)},
    )
    assert {rel: (helped / rel).stat().st_mtime_ns for rel in ours} == before  # loaded, not rewritten


def test_compile_mirror_never_leaves_a_cut_short_pyc(tmp_path: Path) -> None:
    """A full bytecode-cache tmpfs (``/dev/shm`` in the container) must not leave a truncated
    ``.pyc`` there: the import check would fail on it instead of compiling the module."""
    import os

    if os.geteuid() != 0 and os.environ.get("CI") != "true":
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    src = tmp_path / "src"
    src.mkdir()
    module = src / "bigmod.py"
    module.write_text("".join(f"VALUE_{i} = {i!r} * 3\n" for i in range(4000)))
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(small)], check=True)
    try:
        code = (
            "import sys; sys.path.insert(0, sys.argv[1]); import compile_installed as c; "
            "print(c._compile(sys.argv[2]))"
        )
        env = {**os.environ, "PYTHONPYCACHEPREFIX": str(small / "pycache")}
        out = subprocess.run(
            [sys.executable, "-c", code, str(SCRIPTS), str(module)], env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        written = Path(out.stdout.strip())
        assert written.parent == src / "__pycache__" and written.stat().st_size > 16 * 1024
        left = [p for p in small.rglob("*") if p.is_file()]
        assert left == []  # no cut-short mirror, no temporary file
        loaded = subprocess.run(
            [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import bigmod; print(bigmod.VALUE_3999)", str(src)],
            env=env, capture_output=True, text=True,
        )
        assert loaded.returncode == 0 and loaded.stdout.strip() == str(3999 * 3), loaded.stderr
    finally:
        subprocess.run(["umount", str(small)], check=False)
