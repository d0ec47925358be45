"""The resolution target (CPython X.Y, musl X.Y, arch) and the Alpine release table."""

from muslin.target.releases import AlpineRelease, find_release, load_releases, profile_facts
from muslin.target.target import Target, build_target

__all__ = ["AlpineRelease", "Target", "build_target", "find_release", "load_releases", "profile_facts"]
