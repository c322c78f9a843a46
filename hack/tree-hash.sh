#!/usr/bin/env bash
# Prints one hash over the contents of the given files and folders, so a
# caller can tell whether a generator changed any of them.
set -euo pipefail
find "$@" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
