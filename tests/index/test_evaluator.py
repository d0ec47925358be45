"""File -> Candidate/Rejection decisions for a target."""

from __future__ import annotations

from packaging.utils import canonicalize_name
from packaging.version import Version

from muslin.index.candidate import Candidate, Rejection
from muslin.index.collector import IndexFile
from muslin.index.config import IndexConfig
from muslin.index.evaluator import Evaluator, requires_python_ok, sort_candidates
from muslin.target.target import Target

T = Target((3, 11), "3.11.6", (1, 2), "x86_64", "linux/amd64")
IX = IndexConfig("pypi", "https://pypi.org/simple/")
LINUX_IX = IndexConfig("musl", "https://musl.example/simple/", accept_linux_tags=True)


def f(name: str, **kw: object) -> IndexFile:
    return IndexFile(filename=name, url="https://h/" + name, sha256="ab" * 32, **kw)  # type: ignore[arg-type]


def ev(**kw: object) -> Evaluator:
    return Evaluator(T, canonicalize_name("pkg"), **kw)  # type: ignore[arg-type]


def test_tag_rank_and_candidate_fields() -> None:
    best = ev().evaluate(f("pkg-1.0-cp311-cp311-musllinux_1_2_x86_64.whl", requires_python=">=3.8"), IX)
    older = ev().evaluate(f("pkg-1.0-cp311-cp311-musllinux_1_1_x86_64.whl"), IX)
    abi3 = ev().evaluate(f("pkg-1.0-cp38-abi3-musllinux_1_2_x86_64.whl"), IX)
    pure = ev().evaluate(f("pkg-1.0-py3-none-any.whl"), IX)
    multi = ev().evaluate(f("pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.musllinux_1_1_x86_64.whl"), IX)
    assert isinstance(best, Candidate) and best.tag_rank == 0
    assert best.artifact.index == "pypi" and best.requires_python == ">=3.8"
    assert isinstance(older, Candidate) and older.tag_rank == 1
    assert isinstance(abi3, Candidate) and isinstance(pure, Candidate)
    assert older.tag_rank < abi3.tag_rank < pure.tag_rank
    assert isinstance(multi, Candidate) and multi.tag_rank == 1


def test_rejections() -> None:
    r = ev().evaluate(f("pkg-3.2.0.tar.gz"), IX)
    assert isinstance(r, Rejection) and (r.version, r.reason, r.kind) == ("3.2.0", "sdist only", "sdist")
    r = ev().evaluate(f("pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"), IX)
    assert isinstance(r, Rejection) and r.kind == "tags"
    assert r.reason == "no matching tag (cp311-cp311-manylinux_2_17_x86_64)"
    r = ev().evaluate(f("pkg-1.0-cp312-cp312-musllinux_1_2_x86_64.whl"), IX)
    assert isinstance(r, Rejection) and r.kind == "tags"
    r = ev().evaluate(f("pkg-1.0-cp311-cp311-musllinux_1_3_x86_64.whl"), IX)
    assert isinstance(r, Rejection)
    r = ev().evaluate(f("pkg-1.0-cp311-cp311-musllinux_1_2_aarch64.whl"), IX)
    assert isinstance(r, Rejection)
    r = ev().evaluate(f("pkg-1.0-py3-none-any.whl", requires_python=">=3.12"), IX)
    assert isinstance(r, Rejection) and r.kind == "requires-python" and ">=3.12" in r.reason
    r = ev().evaluate(f("pkg-1.0.whl"), IX)
    assert isinstance(r, Rejection) and r.kind == "invalid"
    r = ev().evaluate(f("other-1.0-py3-none-any.whl"), IX)
    assert isinstance(r, Rejection) and r.kind == "invalid"
    r = ev(no_binary=frozenset({"pkg"})).evaluate(f("pkg-1.0-py3-none-any.whl"), IX)
    assert isinstance(r, Rejection) and r.kind == "no-binary"
    r = ev().evaluate(f("pkg-1.0.exe"), IX)
    assert isinstance(r, Rejection) and r.kind == "other"


def test_linux_tags_per_index() -> None:
    name = "pkg-1.0-cp311-cp311-linux_x86_64.whl"
    r = ev().evaluate(f(name), IX)
    assert isinstance(r, Rejection) and "accept-linux-tags for index pypi" in r.reason
    c = ev().evaluate(f(name), LINUX_IX)
    musl = ev().evaluate(f("pkg-1.0-cp311-cp311-musllinux_1_0_x86_64.whl"), LINUX_IX)
    assert isinstance(c, Candidate) and isinstance(musl, Candidate)
    assert musl.tag_rank < c.tag_rank


def test_yanked_stays_candidate() -> None:
    c = ev().evaluate(f("pkg-1.0-py3-none-any.whl", yanked=True, yanked_reason="oops"), IX)
    assert isinstance(c, Candidate) and c.yanked


def test_requires_python_full_version() -> None:
    assert requires_python_ok(">=3.11.6", "3.11.6")
    assert not requires_python_ok(">=3.11.7", "3.11.6")
    assert requires_python_ok("!=3.11.*,>=3", "3.12.0")
    assert requires_python_ok("not a spec", "3.11.6")
    assert requires_python_ok(None, "3.11.6")


def test_sorting() -> None:
    files = [
        "pkg-1.0-py3-none-any.whl",
        "pkg-2.0-py3-none-any.whl",
        "pkg-2.0-cp311-cp311-musllinux_1_2_x86_64.whl",
        "pkg-10.0-py3-none-any.whl",
    ]
    cands = [ev().evaluate(f(n), IX) for n in files]
    out = sort_candidates([c for c in cands if isinstance(c, Candidate)])
    assert [(str(c.version), c.tag_rank) for c in out][:3] == [("10.0", out[0].tag_rank), ("2.0", 0), ("2.0", out[2].tag_rank)]
    assert out[0].version == Version("10.0") and out[-1].version == Version("1.0")


def test_one_evaluator_for_a_whole_page_decides_like_a_fresh_one_per_file() -> None:
    """The evaluator remembers project names and versions it parsed; odd names still get
    packaging's own verdicts and messages."""
    names = [
        "pkg-1.0-cp311-cp311-musllinux_1_2_x86_64.whl",
        "pkg-1.0-py3-none-any.whl",
        "Pkg-2.0-1-py3-none-any.whl",  # build tag
        "pkg-2.0-x1-py3-none-any.whl",  # build tag without its number
        "pkg-2.0-py3-none-any.whl",
        "pkg-not.a.version!-py3-none-any.whl",
        "pkg-3.0rc1-py3-none-any.whl",
        "pkg__x-1.0-py3-none-any.whl",
        "other-1.0-py3-none-any.whl",
        "pkg-1.0-py3-none-any-extra-part.whl",
        "pkg-1.0-py3.whl",
        "pkg-4.0-cp311-cp311-manylinux_2_17_x86_64.musllinux_1_1_x86_64.whl",
        "pkg-4.0-cp312-cp312-musllinux_1_1_x86_64.whl",
    ]
    shared = ev()
    for name in names * 2:
        assert shared.evaluate(f(name), IX) == ev().evaluate(f(name), IX), name
    assert isinstance(shared.evaluate(f("pkg-2.0-x1-py3-none-any.whl"), IX), Rejection)
    bad = shared.evaluate(f("pkg-not.a.version!-py3-none-any.whl"), IX)
    assert isinstance(bad, Rejection) and "invalid version" in bad.reason


def test_sorting_ties_equal_versions_and_yanked() -> None:
    """Equal versions spelled differently sort together; then tag rank, non-yanked first, file name."""
    files = [
        ("pkg-1.0.0-py3-none-any.whl", False),
        ("pkg-1.0-cp311-abi3-musllinux_1_2_x86_64.whl", True),
        ("pkg-1.0-cp311-abi3-musllinux_1_1_x86_64.whl", False),
        ("pkg-1.0-cp311-cp311-musllinux_1_2_x86_64.whl", True),
        ("pkg-1.0-cp311-cp311-musllinux_1_2_x86_64.whl", False),
        ("pkg-1.0rc1-py3-none-any.whl", False),
        ("pkg-0.9.post1-py3-none-any.whl", False),
    ]
    cands = [ev().evaluate(f(n, yanked=y), IX) for n, y in files]
    out = sort_candidates([c for c in cands if isinstance(c, Candidate)])
    got = [(c.artifact.filename, c.yanked) for c in out]
    assert got == [
        ("pkg-1.0-cp311-cp311-musllinux_1_2_x86_64.whl", False),
        ("pkg-1.0-cp311-cp311-musllinux_1_2_x86_64.whl", True),
        ("pkg-1.0-cp311-abi3-musllinux_1_2_x86_64.whl", True),
        ("pkg-1.0-cp311-abi3-musllinux_1_1_x86_64.whl", False),
        ("pkg-1.0.0-py3-none-any.whl", False),
        ("pkg-1.0rc1-py3-none-any.whl", False),
        ("pkg-0.9.post1-py3-none-any.whl", False),
    ]
    assert [c.tag_rank for c in out[:5]] == sorted(c.tag_rank for c in out[:5])
