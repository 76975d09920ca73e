#!/usr/bin/env bash
# Deploy the release artifact to ENV: unpack it into
#   $STAGELINE_DEPLOY_ROOT/ENV/releases/<release>/
# switch ENV/current to it atomically (a new symlink renamed over the old one, so a
# reader sees either the old or the new release, never none), then restart ENV's
# service on its port and wait until /health reports the new release.
#
# Usage: deploy/deploy.sh ENV
#   STAGELINE_DEPLOY_ROOT  where environments live (default: $TMPDIR/stageline-webapp)
#   DEPLOY_PORT            the service's port (default: staging 18081, production 18082)
#   WEBAPP_ARTIFACT        the tarball (default: the one in ./dist)
# Prints `url=http://127.0.0.1:PORT`, also to $GITHUB_OUTPUT when set.
set -euo pipefail
env_name=${1:?usage: deploy.sh ENV}
here=$(cd "$(dirname "$0")" && pwd)
root=${STAGELINE_DEPLOY_ROOT:-${TMPDIR:-/tmp}/stageline-webapp}
case "$env_name" in
    staging) default_port=18081 ;;
    production) default_port=18082 ;;
    *) default_port= ;;
esac
port=${DEPLOY_PORT:-$default_port}
if [ -z "$port" ]; then
    echo "deploy: set DEPLOY_PORT for environment '$env_name'" >&2
    exit 2
fi

shopt -s nullglob
artifacts=(dist/webapp-*.tar.gz)
artifact=${WEBAPP_ARTIFACT:-${artifacts[0]:-}}
if [ -z "$artifact" ] || [ ! -f "$artifact" ]; then
    echo "deploy: no release artifact (looked for ${WEBAPP_ARTIFACT:-dist/webapp-*.tar.gz})" >&2
    exit 2
fi
release=$(tar -xzOf "$artifact" RELEASE)

env_dir=$root/$env_name
mkdir -p "$env_dir/releases"
target=$env_dir/releases/$release
if [ ! -d "$target" ]; then
    incoming=$(mktemp -d "$env_dir/releases/.incoming.XXXXXX")
    tar -xzf "$artifact" -C "$incoming"
    mv -T "$incoming" "$target"
fi

link=$env_dir/.current.$$
ln -s "releases/$release" "$link"
mv -T "$link" "$env_dir/current"
echo "deploy: $env_name now points at release $release"

python3 "$here/service.py" restart "$env_dir" --port "$port"
echo "url=http://127.0.0.1:$port"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
    echo "url=http://127.0.0.1:$port" >>"$GITHUB_OUTPUT"
fi
