"""Installed distributions in every metadata form, with requirements, top-level names and owners."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from support.alpine_rootfs import LOCAL_SITE, SITE, Rootfs

from muslin.facts.apkdb import file_owners, read_apk_db
from muslin.facts.distributions import (
    find_distributions,
    requires_txt_to_pep508,
    top_level_from_paths,
    top_level_from_sources,
)
from muslin.facts.hostdir import HostDirTree
from muslin.facts.model import Distribution, Owner

REQUIRES_TXT = """\
six>=1.5
attrs

[crypto]
cryptography>=3.3

[:python_version < "3.8"]
importlib-metadata

[Socks:sys_platform == "win32" or sys_platform == "cygwin"]
win-inet-pton ; python_version >= "3"
"""


def _dists(root: Path, *sites: str) -> dict[str, Distribution]:
    tree = HostDirTree(root)
    _, packages = read_apk_db(tree)
    found = find_distributions(tree, sites or (SITE,), file_owners(packages))
    return {d.canonical_name: d for d in found}


def test_every_metadata_form(tmp_path: Path) -> None:
    fs = Rootfs(tmp_path).alpine_base().apk_python()
    fs.dist_info(
        SITE,
        "PyYAML",
        "6.0.1",
        requires=["typing-extensions; python_version < '3.8'"],
        requires_python=">=3.6",
        installer="pip",
        modules=["yaml/__init__.py", "_yaml/__init__.py"],
    )
    fs.egg_info_dir(SITE, "Paste_Deploy", "3.0.1", requires_txt=REQUIRES_TXT, top_level=["paste"])
    fs.egg_info_file(SITE, "distutils_thing", "0.9")
    fs.egg_dir(SITE, "EggDir", "1.2", requires_txt="zope.interface\n")
    fs.egg_zip(SITE, "Zipped", "2.0", requires_txt="[tests]\npytest\n")
    fs.egg_link(SITE, "DevProj", "0.1.dev0", "src/devproj")
    dists = _dists(tmp_path)
    assert sorted(dists) == ["devproj", "distutils-thing", "eggdir", "paste-deploy", "pyyaml", "zipped"]

    yaml = dists["pyyaml"]
    assert (yaml.name, yaml.version, yaml.form) == ("PyYAML", "6.0.1", "dist-info")
    assert yaml.metadata_path == f"{SITE}/PyYAML-6.0.1.dist-info"
    assert yaml.site_packages == SITE
    assert yaml.requires == ("typing-extensions; python_version < '3.8'",)
    assert yaml.requires_python == ">=3.6"
    assert yaml.installer == "pip"
    assert yaml.top_level == ("_yaml", "yaml")  # derived from RECORD
    assert yaml.owner == Owner("installer", "pip")

    paste = dists["paste-deploy"]
    assert (paste.name, paste.form, paste.top_level) == ("Paste_Deploy", "egg-info", ("paste",))
    assert paste.requires[:3] == ("six>=1.5", "attrs", 'cryptography>=3.3; extra == "crypto"')

    old = dists["distutils-thing"]
    assert (old.form, old.version, old.requires, old.owner) == ("egg-info-file", "0.9", (), Owner("unknown"))
    assert old.metadata_path == f"{SITE}/distutils_thing-0.9-py3.11.egg-info"

    egg = dists["eggdir"]
    assert (egg.form, egg.version, egg.requires, egg.top_level) == ("egg", "1.2", ("zope.interface",), ("eggdir",))

    zipped = dists["zipped"]
    assert (zipped.form, zipped.version, zipped.top_level) == ("egg-zip", "2.0", ("zipped",))
    assert zipped.requires == ('pytest; extra == "tests"',)

    dev = dists["devproj"]
    assert (dev.form, dev.version, dev.requires_python) == ("egg-link", "0.1.dev0", ">=3.8")
    assert dev.metadata_path == "src/devproj/DevProj.egg-info"
    assert dev.site_packages == SITE
    assert dev.requires == ("requests>=2",)
    assert dev.top_level == ("devproj",)


def test_alpine_py3_mysqlclient_is_owned_by_its_apk_package(tmp_path: Path) -> None:
    fs = Rootfs(tmp_path).alpine_base().apk_python()
    egg_info = fs.mysqlclient_apk()
    (mysql,) = _dists(tmp_path).values()
    assert mysql.name == "mysqlclient" and mysql.canonical_name == "mysqlclient"
    assert mysql.version == "2.1.1"
    assert mysql.form == "egg-info"
    assert mysql.metadata_path == egg_info == f"{SITE}/mysqlclient-2.1.1-py3.11.egg-info"
    assert mysql.owner == Owner("apk", "py3-mysqlclient", "2.1.1-r3")
    assert mysql.owner.label == "apk py3-mysqlclient 2.1.1-r3"
    assert mysql.top_level == ("MySQLdb",)
    assert mysql.requires == ()
    assert mysql.requires_python == ">=3.5"
    assert mysql.installer is None


def test_pyc_subpackages_and_ensurepip_wheels_are_not_distributions(tmp_path: Path) -> None:
    fs = Rootfs(tmp_path).alpine_base().apk_python()
    fs.mysqlclient_apk()
    tree = HostDirTree(tmp_path)
    _, packages = read_apk_db(tree)
    assert {"python3-pyc", "py3-mysqlclient-pyc"} <= {p.name for p in packages}
    sites = (SITE, "usr/lib/python3.11", "usr/lib/python3.11/ensurepip/_bundled")
    found = find_distributions(tree, sites, file_owners(packages))
    assert [d.canonical_name for d in found] == ["mysqlclient"]


def test_owner_precedence_apk_over_installer(tmp_path: Path) -> None:
    """Alpine's py3-pip is installed with an installer but owned by apk: apk wins."""
    from support.alpine_rootfs import apk_record

    fs = Rootfs(tmp_path).alpine_base().apk_python()
    files = fs.dist_info(SITE, "pip", "23.1.2", installer="pip", modules=["pip/__init__.py"])
    fs.add_apk(apk_record("py3-pip", "23.1.2-r0", files=files))
    fs.dist_info(SITE, "requests", "2.31.0", installer="uv", requires=["idna<4,>=2.5"])
    fs.dist_info(SITE, "hand-made", "1", installer=None)
    dists = _dists(tmp_path)
    assert dists["pip"].owner == Owner("apk", "py3-pip", "23.1.2-r0")
    assert dists["requests"].owner == Owner("installer", "uv")
    assert dists["requests"].owner.label == "uv"
    assert dists["hand-made"].owner == Owner("unknown")


def test_each_python_site_packages_has_its_own_distributions(tmp_path: Path) -> None:
    fs = Rootfs(tmp_path).alpine_base().apk_python().local_python()
    fs.mysqlclient_apk()
    fs.dist_info(LOCAL_SITE, "mysqlclient", "2.2.0", installer="pip")
    found = find_distributions(HostDirTree(tmp_path), [LOCAL_SITE, SITE, SITE], file_owners(read_apk_db(HostDirTree(tmp_path))[1]))
    assert [(d.version, d.site_packages, d.owner.kind) for d in found] == [
        ("2.2.0", LOCAL_SITE, "installer"),
        ("2.1.1", SITE, "apk"),
    ]


def test_broken_entries_are_skipped(tmp_path: Path) -> None:
    fs = Rootfs(tmp_path)
    fs.write(f"{SITE}/bad-1.0-py3.11.egg", b"not a zip file")
    fs.mkdir(f"{SITE}/nometa-1.0.dist-info")
    fs.write(f"{SITE}/dangling.egg-link", "/nowhere/at/all\n.\n")
    fs.write(f"{SITE}/empty.egg-link", "")
    fs.write(f"{SITE}/escape.egg-link", "../../../../../../..\n")
    fs.write(f"{SITE}/README.txt", "hi")
    # metadata without Name/Version falls back to the file name
    fs.write(f"{SITE}/fallback-4.2-py3.11.egg-info/PKG-INFO", "Metadata-Version: 1.0\nSummary: x\n")
    dists = _dists(tmp_path)
    assert list(dists) == ["fallback"]
    assert dists["fallback"].version == "4.2"


def test_legacy_metadata_and_non_utf8(tmp_path: Path) -> None:
    fs = Rootfs(tmp_path)
    fs.write(
        f"{SITE}/Legacy-1.1.dist-info/METADATA",
        b"Metadata-Version: 1.1\nName: Legacy\nVersion: 1.1\nAuthor: J\xe9r\xf4me\nRequires: os\n\n\xff\xfe body",
    )
    (legacy,) = _dists(tmp_path).values()
    assert (legacy.name, legacy.version, legacy.requires) == ("Legacy", "1.1", ())


def test_requires_txt_to_pep508() -> None:
    converted = requires_txt_to_pep508(REQUIRES_TXT)
    assert converted == (
        "six>=1.5",
        "attrs",
        'cryptography>=3.3; extra == "crypto"',
        'importlib-metadata; python_version < "3.8"',
        'win-inet-pton; (python_version >= "3") and (sys_platform == "win32" or sys_platform == "cygwin") and extra == "socks"',
    )
    for text in converted:
        Requirement(text)  # each one is valid PEP 508
    marker = Requirement(converted[-1]).marker
    assert marker is not None
    assert marker.evaluate({"extra": "socks", "sys_platform": "cygwin", "python_version": "3.11"})
    assert not marker.evaluate({"extra": "", "sys_platform": "cygwin", "python_version": "3.11"})


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["yaml/__init__.py", "_yaml/x.so", "PyYAML-6.0.dist-info/RECORD", "../../../bin/x"], ("_yaml", "yaml")),
        (["six.py", "__pycache__/six.cpython-311.pyc", "six-1.16.0.dist-info/METADATA"], ("six",)),
        (["_cffi_backend.cpython-311-x86_64-linux-musl.so", "cffi/__init__.py", "cffi.libs/libffi.so"], ("_cffi_backend", "cffi")),
        (["distutils-precedence.pth", "setuptools/__init__.py", "pkg_resources/"], ("pkg_resources", "setuptools")),
    ],
)
def test_top_level_from_paths(paths: list[str], expected: tuple[str, ...]) -> None:
    assert top_level_from_paths(paths) == expected


def test_top_level_from_sources() -> None:
    sources = ["setup.py", "src/pkg/__init__.py", "src/pkg/sub/__init__.py", "src/helper.py", "tests/test_x.py", "pkg.egg-info/PKG-INFO"]
    assert top_level_from_sources(sources) == ("helper", "pkg")
    assert top_level_from_sources(["setup.py", "single.py"]) == ("single",)


def test_top_level_falls_back_to_sources_txt(tmp_path: Path) -> None:
    fs = Rootfs(tmp_path)
    folder = fs.egg_info_dir(SITE, "mysqlclient", "2.1.1", top_level=None)
    fs.write(f"{folder}/SOURCES.txt", "setup.py\nMySQLdb/__init__.py\nMySQLdb/constants/__init__.py\n")
    fs.egg_info_dir(SITE, "legacy-pip", "1.0", top_level=None, installed_files=["../legacy_pip/__init__.py", "../lp.py", "PKG-INFO", "../../../../bin/lp"])
    dists = _dists(tmp_path)
    assert dists["mysqlclient"].top_level == ("MySQLdb",)
    assert dists["legacy-pip"].top_level == ("legacy_pip", "lp")
