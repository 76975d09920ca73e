#!/usr/bin/env bash
# Build the release artifact: OUTDIR/webapp-<release>.tar.gz holding the package and
# a RELEASE file (the commit it was built from) that deploy.sh installs by.
# Prints `release=<id>` and `artifact=<path>`, also to $GITHUB_OUTPUT when set.
set -euo pipefail
outdir=${1:-dist}
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
cd "$(dirname "$0")/.."
release=${GITHUB_SHA:-$(git rev-parse HEAD 2>/dev/null || echo dev)}
release=${release:0:12}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/webapp"
cp webapp/*.py "$stage/webapp/"
echo "$release" >"$stage/RELEASE"
python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import webapp; print(webapp.__version__)' \
    "$stage" >"$stage/VERSION"
artifact="$outdir/webapp-$release.tar.gz"
tar -czf "$artifact" -C "$stage" RELEASE VERSION webapp
echo "release=$release"
echo "artifact=$artifact"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
    printf 'release=%s\nartifact=%s\n' "$release" "$artifact" >>"$GITHUB_OUTPUT"
fi
