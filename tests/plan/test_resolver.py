"""Pure resolution: the provider and resolver over an in-memory finder.

The finder here is a real implementation of the ``Finder`` protocol over
candidate sets built in the test (no HTTP); the planner end-to-end tests use
real index servers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import replace

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from muslin.errors import NoWheelError, ResolutionError
from muslin.facts.model import Distribution, Owner
from muslin.index.candidate import Candidate, CandidateMetadata, CandidateSet, Rejection
from muslin.plan.model import Artifact
from muslin.resolve.provider import Req
from muslin.resolve.resolver import Resolution, resolve
from muslin.target.target import Target

TAG = "cp311-musllinux_1_2_x86_64"


def target(arch: str = "x86_64", full: str = "3.11.6") -> Target:
    major, minor = (int(p) for p in full.split(".")[:2])
    return Target((major, minor), full, (1, 2), arch, "linux/amd64" if arch == "x86_64" else "linux/arm64")


class MemoryIndex:
    """A Finder over ``{index: {name: [(version, requires, requires_python, yanked)]}}``."""

    def __init__(self, indexes: dict[str, dict[str, list[tuple[str, list[str], str | None, bool]]]],
                 rejections: dict[str, list[Rejection]] | None = None,
                 pins: dict[str, str] | None = None) -> None:
        self.indexes = indexes
        self.rejections = rejections or {}
        self.pins = pins or {}
        self.found: list[str] = []
        self.meta: dict[str, CandidateMetadata] = {}
        self.override: dict[str, CandidateMetadata] = {}

    def _set(self, name: NormalizedName, index: str | None) -> CandidateSet:
        cands = []
        if index is not None:
            for version, requires, rp, yanked in self.indexes[index].get(name, []):
                filename = f"{name}-{version}-py3-none-any.whl"
                art = Artifact(filename, f"http://{index}/{filename}", hashlib.sha256(filename.encode()).hexdigest(), index)
                cands.append(Candidate(name, Version(version), art, 0, yanked=yanked, requires_python=rp))
                self.meta[filename] = CandidateMetadata(
                    name, version, tuple(Requirement(r) for r in requires), rp
                )
        cands.sort(key=lambda c: c.version, reverse=True)
        listing = [ix for ix, names in self.indexes.items() if name in names]
        return CandidateSet(
            name, index, tuple(cands), tuple(self.rejections.get(name, ())),
            also_on=tuple(ix for ix in listing if ix != index),
        )

    def find(self, name: NormalizedName) -> CandidateSet:
        self.found.append(name)
        if name in self.pins:
            return self._set(name, self.pins[name])
        owner = next((ix for ix, names in self.indexes.items() if name in names), None)
        if owner is None and name in self.rejections:
            owner = next(iter(self.indexes))
        return self._set(name, owner)

    def find_on(self, name: NormalizedName, index: str) -> CandidateSet:
        return self._set(name, index)

    def metadata(self, candidate: Candidate) -> CandidateMetadata:
        filename = candidate.artifact.filename
        return self.override.get(filename) or self.meta[filename]


def reqs(*texts: str, hashes: Iterable[str] = ()) -> list[Req]:
    return [Req.from_requirement(Requirement(t), hashes=hashes) for t in texts]


def apk_dist(name: str, version: str, requires: tuple[str, ...] = ()) -> Distribution:
    return Distribution(
        name=name,
        canonical_name=canonicalize_name(name),
        version=version,
        form="egg-info",
        metadata_path=f"usr/lib/python3.11/site-packages/{name}-{version}-py3.11.egg-info",
        site_packages="usr/lib/python3.11/site-packages",
        requires=requires,
        owner=Owner("apk", f"py3-{name}", f"{version}-r3"),
    )


def versions(res: Resolution) -> dict[str, str]:
    return {p.name: str(p.version) for p in res.packages}


def run(finder: MemoryIndex, texts: list[str], **kw: object) -> Resolution:
    installed = kw.pop("installed", {})
    tgt = kw.pop("target", target())
    return resolve(reqs(*texts), kw.pop("constraints", []), finder=finder, target=tgt, facts=None,  # type: ignore[arg-type]
                   installed=installed, target_tag=TAG, **kw)  # type: ignore[arg-type]


def test_newest_and_markers_from_the_target() -> None:
    finder = MemoryIndex({"pypi": {
        "app": [("1.0", ['old ; python_version < "3.11"', 'arm ; platform_machine == "aarch64"', "lib>=1"], None, False)],
        "lib": [("1.0", [], None, False), ("2.0", [], None, False)],
        "old": [("1.0", [], None, False)],
        "arm": [("1.0", [], None, False)],
    }})
    assert versions(run(finder, ["app"])) == {"app": "1.0", "lib": "2.0"}
    arm = run(finder, ["app"], target=target("aarch64"))
    assert versions(arm) == {"app": "1.0", "lib": "2.0", "arm": "1.0"}
    assert arm.package("arm") is not None and arm.package("arm").requested_by == ("app",)  # type: ignore[union-attr]
    assert run(finder, ["app"]).package("app").requested_by == ("<user>",)  # type: ignore[union-attr]


def test_user_marker_is_evaluated_on_the_target() -> None:
    finder = MemoryIndex({"pypi": {"a": [("1.0", [], None, False)], "b": [("1.0", [], None, False)]}})
    res = run(finder, ['a ; python_version >= "3.11"', 'b ; sys_platform == "win32"'])
    assert versions(res) == {"a": "1.0"}


def test_installed_pin_is_kept_and_its_requires_followed() -> None:
    finder = MemoryIndex({"pypi": {
        "mysqlclient": [("2.2.4", [], None, False)],
        "dep": [("1.0", [], None, False), ("3.0", [], None, False)],
    }})
    dist = apk_dist("mysqlclient", "2.1.1", ("dep<2",))
    res = run(finder, ["mysqlclient==2.1.1"], installed={"mysqlclient": dist})
    pkg = res.package("mysqlclient")
    assert pkg is not None and pkg.keep and pkg.installed is dist
    assert versions(res) == {"mysqlclient": "2.1.1", "dep": "1.0"}
    assert "mysqlclient" not in finder.found  # an installed pin never asks the index
    # without a version constraint the installed one is still the only candidate
    assert versions(run(finder, ["mysqlclient"], installed={"mysqlclient": dist}))["mysqlclient"] == "2.1.1"


def test_upgraded_installed_distribution_takes_its_versions_place() -> None:
    finder = MemoryIndex({"pypi": {"lib": [("1.0", [], None, False), ("3.0", [], None, False)]}})
    installed = {"lib": apk_dist("lib", "2.0")}
    kept = run(finder, ["lib<3"], installed=installed, upgrade_system=["lib"]).package("lib")
    assert kept is not None and kept.keep and str(kept.version) == "2.0"  # before 1.0 from the index
    assert versions(run(finder, ["lib"], installed=installed, upgrade_system=["lib"])) == {"lib": "3.0"}
    # an installed pre-release counts as a final release; index pre-releases wait for nothing else
    beta = {"lib": apk_dist("lib", "4.0b1")}
    assert versions(run(finder, ["lib"], installed=beta, upgrade_system=[":all:"])) == {"lib": "4.0b1"}


def test_candidates_are_worked_out_only_as_far_as_the_resolver_reads() -> None:
    """An index without hashes and a ``--hash`` requirement: each version looked at costs a
    download (``with_hash``); only the versions the resolver reaches are looked at."""

    class Hashless(MemoryIndex):
        def __init__(self, *args: object) -> None:
            super().__init__(*args)  # type: ignore[arg-type]
            self.hashed: list[str] = []

        def _set(self, name: NormalizedName, index: str | None) -> CandidateSet:
            cset = super()._set(name, index)
            blank = tuple(replace(c, artifact=replace(c.artifact, sha256="")) for c in cset.candidates)
            return replace(cset, candidates=blank)

        def with_hash(self, candidate: Candidate) -> Candidate:
            self.hashed.append(str(candidate.version))
            digest = hashlib.sha256(candidate.artifact.filename.encode()).hexdigest()
            return replace(candidate, artifact=replace(candidate.artifact, sha256=digest))

    releases = [(f"1.{m}", [], None, False) for m in range(300)]
    finder = Hashless({"pypi": {"big": releases}})
    wanted = hashlib.sha256(b"big-1.298-py3-none-any.whl").hexdigest()
    res = resolve(reqs("big", hashes=[wanted]), finder=finder, target=target(), facts=None, installed={})
    assert versions(res) == {"big": "1.298"}
    assert finder.hashed == ["1.299", "1.298"]  # not all 300 versions
    finder.hashed.clear()
    with pytest.raises(ResolutionError, match="sha256 not among the --hash values"):
        resolve(reqs("big", hashes=["0" * 64]), finder=finder, target=target(), facts=None, installed={})
    assert len(finder.hashed) == 300  # a failure looks at everything, to explain it


def test_conflict_with_installed_pin_names_owner_and_advice() -> None:
    finder = MemoryIndex({"pypi": {
        "mysqlclient": [("2.2.4", [], None, False)],
        "app": [("1.0", ["mysqlclient>=2.2"], None, False)],
    }})
    dist = apk_dist("mysqlclient", "2.1.1")
    with pytest.raises(ResolutionError) as err:
        run(finder, ["app"], installed={"mysqlclient": dist})
    msg = str(err.value)
    assert "you -> app 1.0 -> mysqlclient>=2.2" in msg
    assert "2.1.1" in msg and "apk py3-mysqlclient 2.1.1-r3" in msg
    assert "--upgrade-system mysqlclient" in msg
    assert err.value.exit_code == 7


def test_upgrade_system_allows_index_version() -> None:
    finder = MemoryIndex({"pypi": {"mysqlclient": [("2.2.4", [], None, False)]}})
    dist = apk_dist("mysqlclient", "2.1.1")
    res = run(finder, ["mysqlclient>=2.2"], installed={"mysqlclient": dist}, upgrade_system=["mysqlclient"])
    pkg = res.package("mysqlclient")
    assert pkg is not None and not pkg.keep and str(pkg.version) == "2.2.4" and pkg.replaces is dist
    # upgradable but still acceptable: the installed version wins a tie only when it is the newest match
    res = run(finder, ["mysqlclient<2.2"], installed={"mysqlclient": dist}, upgrade_system=[":all:"])
    assert res.package("mysqlclient").keep  # type: ignore[union-attr]


def test_yanked_only_with_exact_pin() -> None:
    finder = MemoryIndex({"pypi": {"a": [("1.0", [], None, False), ("1.1", [], None, True)]}})
    assert versions(run(finder, ["a"])) == {"a": "1.0"}
    assert versions(run(finder, ["a==1.1"])) == {"a": "1.1"}
    with pytest.raises(ResolutionError) as err:
        run(finder, ["a>=1.1"])
    assert "yanked" in str(err.value)


def test_requires_python_of_candidates_and_metadata() -> None:
    finder = MemoryIndex({"pypi": {
        "a": [("1.0", [], ">=3.8", False), ("2.0", [], ">=3.12", False)],
        "b": [("1.0", [], None, False)],
    }})
    assert versions(run(finder, ["a"])) == {"a": "1.0"}
    # requires-python only in METADATA (alpine-wheels indexes do not publish it)
    finder.override["b-1.0-py3-none-any.whl"] = CandidateMetadata("b", "1.0", (), ">=3.12")
    with pytest.raises(ResolutionError) as err:
        run(finder, ["b"])
    assert "requires Python >=3.12" in str(err.value) and "3.11.6" in str(err.value)


def test_constraints_limit_without_adding() -> None:
    finder = MemoryIndex({"pypi": {"a": [("1.0", [], None, False), ("2.0", [], None, False)],
                                   "z": [("1.0", [], None, False)]}})
    res = run(finder, ["a"], constraints=reqs("a<2", "z==1.0"))
    assert versions(res) == {"a": "1.0"}


def test_hashes_restrict_artifacts() -> None:
    finder = MemoryIndex({"pypi": {"a": [("1.0", [], None, False), ("2.0", [], None, False)]}})
    h1 = hashlib.sha256(b"a-1.0-py3-none-any.whl").hexdigest()
    res = resolve(reqs("a", hashes=[h1]), finder=finder, target=target(), facts=None, installed={})
    assert versions(res) == {"a": "1.0"}


def test_extras_bring_their_dependencies_at_the_same_version() -> None:
    finder = MemoryIndex({"pypi": {
        "a": [("1.0", ['x ; extra == "fast"'], None, False), ("2.0", ['x ; extra == "fast"', "y"], None, False)],
        "x": [("1.0", [], None, False)],
        "y": [("1.0", [], None, False)],
    }})
    res = run(finder, ["a[fast]", "a<2"])
    assert versions(res) == {"a": "1.0", "x": "1.0"}
    assert res.package("a").extras == ("fast",)  # type: ignore[union-attr]
    assert versions(run(finder, ["a"])) == {"a": "2.0", "y": "1.0"}


def test_prereleases_only_when_asked_or_nothing_else() -> None:
    finder = MemoryIndex({"pypi": {"a": [("1.0", [], None, False), ("2.0b1", [], None, False)],
                                   "b": [("1.0rc1", [], None, False)]}})
    assert versions(run(finder, ["a", "b"])) == {"a": "1.0", "b": "1.0rc1"}
    assert versions(run(finder, ["a>=2.0b1"])) == {"a": "2.0b1"}


def test_conflict_explains_the_chain() -> None:
    finder = MemoryIndex({"pypi": {
        "a": [("1.0", ["c<2"], None, False)],
        "c": [("1.0", [], None, False), ("2.0", [], None, False)],
    }})
    with pytest.raises(ResolutionError) as err:
        run(finder, ["a", "c>=2"])
    msg = str(err.value)
    assert "you -> a 1.0 -> c<2" in msg and "you -> c>=2" in msg


def test_no_wheel_for_target_is_exit_8_with_platforms() -> None:
    rej = [
        Rejection("3.2.0", "pkg-3.2.0.tar.gz", "sdist only"),
        Rejection("3.2.1", "pkg-3.2.1.tar.gz", "sdist only"),
        Rejection("3.1.0", "pkg-3.1.0-cp311-cp311-manylinux_2_17_x86_64.whl", "no matching tag"),
        Rejection("3.1.0", "pkg-3.1.0-cp311-cp311-win_amd64.whl", "no matching tag"),
        Rejection("3.1.0", "pkg-3.1.0.tar.gz", "sdist only"),
    ]
    finder = MemoryIndex({"pypi": {"other": []}}, rejections={"pkg": rej})
    with pytest.raises(NoWheelError) as err:
        run(finder, ["pkg"])
    msg = str(err.value)
    assert f"no wheel for {TAG}; versions 3.2.x publish sdists only" in msg
    assert "manylinux_2_17_x86_64" in msg and "win_amd64" in msg
    assert "py3-pkg" in msg
    assert err.value.exit_code == 8


def test_owning_index_lacks_version_other_index_has_it() -> None:
    finder = MemoryIndex({
        "musl": {"crypto": [("41.0.3", [], None, False)]},
        "pypi": {"crypto": [("42.0.0", [], None, False), ("41.0.3", [], None, False)]},
    })
    assert versions(run(finder, ["crypto"])) == {"crypto": "41.0.3"}
    with pytest.raises(ResolutionError) as err:
        run(finder, ["crypto>=42"])
    msg = str(err.value)
    assert "found on pypi but not at the requested version" in msg
    assert "--pin crypto=pypi" in msg and "--index-strategy unsafe-best-match" in msg


def test_direct_reference_is_the_only_candidate() -> None:
    sha = "a" * 64
    finder = MemoryIndex({"pypi": {"a": [("9.0", [], None, False)]}})
    filename = "a-1.5-py3-none-any.whl"
    finder.override[filename] = CandidateMetadata("a", "1.5", (), None)
    res = run(finder, [f"a @ https://user:pw@example.org/{filename}#sha256={sha}"])
    pkg = res.package("a")
    assert pkg is not None and str(pkg.version) == "1.5"
    assert pkg.wheel is not None and pkg.wheel.artifact.sha256 == sha
    assert "pw" not in pkg.wheel.artifact.url
