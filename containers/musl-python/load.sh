#!/usr/bin/env bash
# Import the musl-python fixture (an Alpine-3.18-shaped musl rootfs with CPython
# 3.11 + pip; see ../shared/fixtures/musl-python/README.md) into the local Docker
# daemon as muslin-test/musl-python:3.11, the base image of the Docker tests.
# Idempotent: does nothing when the image is already there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
shared="${MUSLIN_SHARED:-$here/../../../shared}"
rootfs="$shared/fixtures/musl-python/rootfs.tar.zst"
image="${1:-muslin-test/musl-python:3.11}"
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image already loaded"
  exit 0
fi
test -f "$rootfs" || { echo "missing fixture: $rootfs" >&2; exit 1; }
zstd -dc "$rootfs" | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/sh"]' - "$image"
