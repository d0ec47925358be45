"""OS identity files: ``os-release``, ``alpine-release``, ``etc/apk/repositories`` and ``etc/apk/arch``."""

from __future__ import annotations

from muslin.facts.tree import FileTree, read_text

OS_RELEASE_PATHS = ("etc/os-release", "usr/lib/os-release")


def _unquote(value: str) -> str:
    """Undo shell quoting as os-release(5) allows: single/double quotes, backslash escapes."""
    out: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(value):
        char = value[i]
        nxt = value[i + 1] if i + 1 < len(value) else ""
        if quote is None:
            if char in "\"'":
                quote = char
            elif char == "\\" and nxt:
                out.append(nxt)
                i += 1
            elif char == "#" and (i == 0 or value[i - 1].isspace()):
                break
            else:
                out.append(char)
        elif quote == "'":
            if char == "'":
                quote = None
            else:
                out.append(char)
        elif char == '"':
            quote = None
        elif char == "\\" and nxt and nxt in '$"\\`':
            out.append(nxt)
            i += 1
        else:
            out.append(char)
        i += 1
    return "".join(out).strip()


def parse_os_release(text: str) -> dict[str, str]:
    """Parse os-release's shell-style ``KEY=value`` lines (quotes and escapes undone).

    Comments, blank lines and lines without a valid key are skipped; an
    unterminated quote ends at the end of the line.
    """
    result: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if not key.replace("_", "").isalnum():
            continue
        result[key] = _unquote(value.strip())
    return result


def read_os_release(tree: FileTree) -> dict[str, str]:
    """``/etc/os-release``, else ``/usr/lib/os-release``; ``{}`` when neither exists."""
    for path in OS_RELEASE_PATHS:
        text = read_text(tree, path)
        if text is not None:
            return parse_os_release(text)
    return {}


def read_alpine_release(tree: FileTree) -> str | None:
    """The first line of ``/etc/alpine-release`` (``3.18.3``), or None."""
    text = read_text(tree, "etc/alpine-release")
    if text is None:
        return None
    first = text.strip().splitlines()
    return first[0].strip() if first else None


def read_apk_repositories(tree: FileTree) -> tuple[str, ...]:
    """The repository lines of ``/etc/apk/repositories`` (comments and blank lines skipped)."""
    text = read_text(tree, "etc/apk/repositories")
    if text is None:
        return ()
    lines = (line.strip() for line in text.splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


def read_apk_arch(tree: FileTree) -> str | None:
    """``/etc/apk/arch`` (``x86_64``, ``aarch64`` ...), or None."""
    text = read_text(tree, "etc/apk/arch")
    if text is None:
        return None
    value = text.strip()
    return value.split()[0] if value else None
