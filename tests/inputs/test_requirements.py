"""The pip-compatible requirements.txt parser, against real files on disk."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from muslin.errors import InputFileError, UsageError
from muslin.inputs.requirements import (
    parse_requirement_string,
    parse_requirements_file,
)

SHA_A = "a" * 64
SHA_B = "b" * 64


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def names(reqs: list) -> list[str]:  # type: ignore[type-arg]
    return [str(r.requirement) for r in reqs]


def test_basic_lines_extras_markers_and_locations(tmp_path: Path) -> None:
    f = write(
        tmp_path / "requirements.txt",
        "# a comment line\n"
        "\n"
        "Django==5.1.5\n"
        "requests[socks,security] >= 2.31  # trailing comment\n"
        'tomli; python_version < "3.11"\n'
        "   \n"
        "attrs\n",
    )
    parsed = parse_requirements_file(f)
    assert names(parsed.requirements) == [
        "Django==5.1.5",
        "requests[security,socks]>=2.31",
        'tomli; python_version < "3.11"',
        "attrs",
    ]
    assert [r.line for r in parsed.requirements] == [3, 4, 5, 7]
    assert parsed.requirements[0].name == "django"
    assert parsed.requirements[1].requirement.extras == {"socks", "security"}
    assert parsed.requirements[0].location == f"{f}:3"
    assert not any(r.is_constraint for r in parsed.requirements)
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    assert [(x.path, x.sha256) for x in parsed.files] == [(str(f), digest)]


def test_continuations_and_hashes_on_continuation_lines(tmp_path: Path) -> None:
    f = write(
        tmp_path / "r.txt",
        "cryptography==41.0.3 \\\n"
        f"    --hash=sha256:{SHA_A} \\\n"
        f"    --hash sha256:{SHA_B.upper()}\n"
        "six==1.16.0 \\\n"
        "  # a comment ends the continuation\n"
        "idna==3.6\n",
    )
    parsed = parse_requirements_file(f)
    crypto, six, idna = parsed.requirements
    assert str(crypto.requirement) == "cryptography==41.0.3"
    assert crypto.hashes == (f"sha256:{SHA_A}", f"sha256:{SHA_B}")
    assert crypto.sha256_hashes() == {SHA_A, SHA_B}
    assert crypto.line == 1
    assert (str(six.requirement), six.line) == ("six==1.16.0", 4)
    assert (str(idna.requirement), idna.line) == ("idna==3.6", 6)


def test_fragment_hash_is_not_a_comment_and_direct_references(tmp_path: Path) -> None:
    url = f"https://files.example.org/p/pkg-1.0-py3-none-any.whl#sha256={SHA_A}"
    f = write(tmp_path / "r.txt", f"pkg @ {url}  # the pinned wheel\n")
    (req,) = parse_requirements_file(f).requirements
    assert req.url == url
    assert req.url_sha256 == SHA_A
    assert req.sha256_hashes() == {SHA_A}


def test_comment_needs_whitespace_before_hash_sign(tmp_path: Path) -> None:
    f = write(tmp_path / "r.txt", "#whole line\nattrs==23.1 #note\n")
    (req,) = parse_requirements_file(f).requirements
    assert str(req.requirement) == "attrs==23.1"


def test_environment_variables_like_pip(tmp_path: Path) -> None:
    f = write(
        tmp_path / "r.txt",
        "--extra-index-url https://${INDEX_USER}:${INDEX_TOKEN}@musl.example/simple/\n"
        "pkg==${PKG_VERSION}\n"
        "other @ https://host/${lower_case}/other-1.0-py3-none-any.whl\n"
        "third @ https://host/$PLAIN/third-1.0-py3-none-any.whl\n"
        "fourth @ https://host/${MISSING_VAR}/fourth-1.0-py3-none-any.whl\n",
    )
    env = {
        "INDEX_USER": "me",
        "INDEX_TOKEN": "s3cret",
        "PKG_VERSION": "1.2",
        "lower_case": "x",
        "PLAIN": "y",
    }
    parsed = parse_requirements_file(f, env=env)
    assert parsed.extra_index_urls == ["https://me:s3cret@musl.example/simple/"]
    pkg, other, third, fourth = parsed.requirements
    assert str(pkg.requirement) == "pkg==1.2"
    assert other.url == "https://host/${lower_case}/other-1.0-py3-none-any.whl"
    assert third.url == "https://host/$PLAIN/third-1.0-py3-none-any.whl"
    assert fourth.url == "https://host/${MISSING_VAR}/fourth-1.0-py3-none-any.whl"


def test_environment_defaults_to_os_environ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MUSLIN_TEST_PIN", "2.0")
    f = write(tmp_path / "r.txt", "pkg==${MUSLIN_TEST_PIN}\n")
    assert names(parse_requirements_file(f).requirements) == ["pkg==2.0"]


def test_nested_requirements_and_constraints_are_relative_to_the_including_file(
    tmp_path: Path,
) -> None:
    write(tmp_path / "reqs" / "base.txt", "attrs\n-c ../constraints/pins.txt\n")
    write(tmp_path / "constraints" / "pins.txt", "attrs==23.1.0\n--requirement=../reqs/extra.txt\n")
    write(tmp_path / "reqs" / "extra.txt", "six\n")
    top = write(tmp_path / "requirements.txt", "-r reqs/base.txt\nidna\n")
    parsed = parse_requirements_file(top)
    assert names(parsed.requirements) == ["attrs", "six", "idna"]
    assert names(parsed.constraints) == ["attrs==23.1.0"]
    assert parsed.constraints[0].is_constraint
    assert parsed.constraints[0].file == str(tmp_path / "reqs" / "../constraints/pins.txt")
    assert parsed.constraints[0].line == 1
    assert len(parsed.files) == 4
    for item in parsed.files:
        assert item.sha256 == hashlib.sha256(Path(item.path).read_bytes()).hexdigest()


def test_constraint_file_top_level(tmp_path: Path) -> None:
    f = write(tmp_path / "c.txt", "urllib3<2\n")
    parsed = parse_requirements_file(f, constraint=True)
    assert parsed.requirements == []
    assert names(parsed.constraints) == ["urllib3<2"]
    assert parsed.constraints[0].is_constraint


def test_include_cycle_is_reported_with_the_chain(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "attrs\n-r b.txt\n")
    write(tmp_path / "b.txt", "six\n\n-r a.txt\n")
    with pytest.raises(InputFileError) as info:
        parse_requirements_file(tmp_path / "a.txt")
    assert info.value.exit_code == 2
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'b.txt'}:3: requirements files include each other")
    assert "a.txt -> " in message and message.endswith("a.txt")


def test_same_file_twice_without_cycle_is_fine(tmp_path: Path) -> None:
    write(tmp_path / "common.txt", "six\n")
    write(tmp_path / "x.txt", "-r common.txt\n")
    top = write(tmp_path / "top.txt", "-r common.txt\n-r x.txt\n")
    parsed = parse_requirements_file(top)
    assert names(parsed.requirements) == ["six", "six"]
    assert len(parsed.files) == 3


def test_missing_nested_file_names_the_including_line(tmp_path: Path) -> None:
    top = write(tmp_path / "top.txt", "six\n-r nope.txt\n")
    with pytest.raises(InputFileError, match=r"top\.txt:2: cannot read included file .*nope\.txt"):
        parse_requirements_file(top)


def test_missing_top_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"absent\.txt: cannot read requirements file"):
        parse_requirements_file(tmp_path / "absent.txt")


def test_index_and_binary_options(tmp_path: Path) -> None:
    links = tmp_path / "wheels"
    links.mkdir()
    f = write(
        tmp_path / "r.txt",
        "-i https://first.example/simple/\n"
        "--index-url=https://mirror.example/simple/\n"
        "--extra-index-url https://musl.example/simple/\n"
        "--extra-index-url https://musl.example/simple/\n"
        "-f wheels\n"
        "--find-links https://example.org/links.html\n"
        "--only-binary :all:\n"
        "--no-binary=pyyaml,Regex\n"
        "--pre\n"
        "--no-index\n"
        "attrs\n",
    )
    parsed = parse_requirements_file(f)
    assert parsed.index_url == "https://mirror.example/simple/"
    assert parsed.extra_index_urls == ["https://musl.example/simple/"]
    assert parsed.find_links == [str(links.resolve()), "https://example.org/links.html"]
    assert parsed.only_binary == {":all:"}
    assert parsed.no_binary == {"pyyaml", "regex"}
    assert parsed.pre and parsed.no_index


def test_binary_all_and_none(tmp_path: Path) -> None:
    f = write(
        tmp_path / "r.txt",
        "--no-binary :all:\n--only-binary numpy,scipy\n--no-binary=:none:\n",
    )
    parsed = parse_requirements_file(f)
    assert parsed.only_binary == {"numpy", "scipy"}
    assert parsed.no_binary == set()
    f2 = write(tmp_path / "r2.txt", "--only-binary numpy\n--no-binary :all:\n")
    parsed2 = parse_requirements_file(f2)
    assert parsed2.no_binary == {":all:"} and parsed2.only_binary == set()


def test_editable_is_refused_with_a_reason(tmp_path: Path) -> None:
    f = write(tmp_path / "r.txt", "attrs\n-e ./src/myproject\n")
    with pytest.raises(InputFileError) as info:
        parse_requirements_file(f)
    assert str(info.value).startswith(
        f"{f}:2: editable requirements (-e/--editable) are not supported"
    )
    assert "inside the image" in str(info.value)


@pytest.mark.parametrize(
    "line",
    [
        "https://files.example.org/pkg-1.0-py3-none-any.whl",
        "./dist/pkg-1.0-py3-none-any.whl",
        "pkg-1.0.tar.gz",
        "/abs/path/project",
    ],
)
def test_bare_url_or_path_is_refused(tmp_path: Path, line: str) -> None:
    f = write(tmp_path / "r.txt", f"six\n{line}\n")
    with pytest.raises(
        InputFileError, match=r"r\.txt:2: .* without a package name; write it as 'name @ URL'"
    ):
        parse_requirements_file(f)


def test_malformed_line_names_file_line_and_packaging_error(tmp_path: Path) -> None:
    f = write(tmp_path / "r.txt", "six\nattrs\ndjango>=>5\n")
    with pytest.raises(InputFileError) as info:
        parse_requirements_file(f)
    message = str(info.value)
    assert message.startswith(f"{f}:3: invalid requirement 'django>=>5': ")
    assert "Expected" in message  # packaging's own explanation
    assert info.value.path == str(f) and info.value.line == 3


def test_malformed_line_inside_continuation_reports_first_line(tmp_path: Path) -> None:
    f = write(tmp_path / "r.txt", "six\nfoo[bar \\\n  ==1\n")
    with pytest.raises(InputFileError, match=r"r\.txt:2: invalid requirement"):
        parse_requirements_file(f)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("--frobnicate\n", "unknown option --frobnicate"),
        ("six --index-url https://x/\n", "option --index-url is not allowed on a requirement line"),
        ("six --hash=md5:abc\n", "invalid --hash 'md5:abc'"),
        (f"six --hash=sha256:{'a' * 63}\n", "invalid --hash"),
        ("--hash=sha256:" + "a" * 64 + "\n", "option --hash is only allowed on a requirement line"),
        ("-r\n", "option -r needs a value"),
        ("--no-index=yes\n", "takes no value"),
        ("-r ftp://example.org/reqs.txt\n", "requirements file URLs must be http(s)"),
        ("pkg @ git+https://github.com/x/y\n", "only http(s):// and file:// URLs"),
    ],
)
def test_bad_options(tmp_path: Path, text: str, expected: str) -> None:
    f = write(tmp_path / "r.txt", text)
    with pytest.raises(InputFileError) as info:
        parse_requirements_file(f)
    assert str(info.value).startswith(f"{f}:1: ")
    assert expected in str(info.value)


def test_ignored_options_are_warned(tmp_path: Path) -> None:
    f = write(tmp_path / "r.txt", "--prefer-binary\n--trusted-host example.org\nsix\n")
    parsed = parse_requirements_file(f)
    assert len(parsed.warnings) == 2 and "--trusted-host has no effect" in parsed.warnings[1]


def test_utf8_bom_and_invalid_utf8(tmp_path: Path) -> None:
    f = tmp_path / "bom.txt"
    f.write_bytes(b"\xef\xbb\xbfsix\n")
    assert names(parse_requirements_file(f).requirements) == ["six"]
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"six\n\xff\xfe\n")
    with pytest.raises(InputFileError, match=r"bad\.txt:2: not valid UTF-8"):
        parse_requirements_file(bad)


def test_requirement_strings_from_the_command_line() -> None:
    req = parse_requirement_string("pyyaml>=6 ; python_version >= '3.8'")
    assert req.location == "<command line>" and req.file is None
    with pytest.raises(UsageError) as info:
        parse_requirement_string("pyyaml>>6")
    assert not isinstance(info.value, InputFileError)
    assert str(info.value).startswith("requirement 'pyyaml>>6': invalid requirement")


def test_agrees_with_pip_on_a_tricky_file(tmp_path: Path) -> None:
    """pip's own parser reads the same names/specifiers from a file using every feature."""
    write(tmp_path / "sub" / "more.txt", "idna==3.6  # nested\n")
    f = write(
        tmp_path / "r.txt",
        "# header\n"
        "attrs==23.1.0 \\\n"
        f"   --hash=sha256:{SHA_A}\n"
        "-r sub/more.txt\n"
        'six>=1.16; python_version >= "3"\n'
        "pkg==${MUSLIN_PIP_CMP}  # version from env\n",
    )
    ours = parse_requirements_file(f, env={**os.environ, "MUSLIN_PIP_CMP": "1.0"})
    script = (
        "import sys\n"
        "from pip._internal.req.req_file import parse_requirements\n"
        "from pip._internal.network.session import PipSession\n"
        "for r in parse_requirements(sys.argv[1], session=PipSession()):\n"
        "    print(r.requirement)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(f)],
        capture_output=True,
        text=True,
        env={**os.environ, "MUSLIN_PIP_CMP": "1.0"},
        check=True,
    ).stdout.split("\n")
    theirs = [line for line in out if line]
    assert [str(r.requirement).replace(" ", "") for r in ours.requirements] == [
        t.replace(" ", "").replace("'", '"') for t in theirs
    ]


def test_malformed_requirement_error_is_one_line(tmp_path: Path) -> None:
    """packaging's caret diagram is dropped: the user gets file:line and the reason on one line."""
    req = tmp_path / "requirements.txt"
    req.write_text("ok==1\nrequests ==\n")
    with pytest.raises(InputFileError) as info:
        parse_requirements_file(req)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{req}:2: invalid requirement 'requests =='")
