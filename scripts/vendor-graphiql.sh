#!/usr/bin/env bash
# Refreshes the GraphiQL assets the graphql function serves itself (so GraphiQL works with no
# CDN: offline, in CI, behind strict egress). Needs npm and the npm registry only.
# usage: scripts/vendor-graphiql.sh [graphiql-version] [react-version]
set -euo pipefail
GRAPHIQL=${1:-4.0.3}
REACT=${2:-18.3.1}
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/functions/graphql/assets/graphiql"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null
for f in *.tgz; do mkdir "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done
mkdir -p "$out"
cp "graphiql-$GRAPHIQL/package/graphiql.min.js" "$out/graphiql.min.js"
cp "graphiql-$GRAPHIQL/package/graphiql.min.css" "$out/graphiql.min.css"
cp "graphiql-$GRAPHIQL/package/LICENSE" "$out/LICENSE.graphiql"
cp "react-$REACT/package/umd/react.production.min.js" "$out/react.production.min.js"
cp "react-$REACT/package/LICENSE" "$out/LICENSE.react"
cp "react-dom-$REACT/package/umd/react-dom.production.min.js" "$out/react-dom.production.min.js"
cat >"$out/VERSIONS" <<TXT
graphiql $GRAPHIQL (graphiql.min.js, graphiql.min.css; MIT, LICENSE.graphiql)
react $REACT (umd/react.production.min.js; MIT, LICENSE.react)
react-dom $REACT (umd/react-dom.production.min.js; MIT, LICENSE.react)
TXT
(cd "$out" && sha256sum ./*.js ./*.css >SHA256SUMS)
echo "vendored into $out; bump ASSET_VERSION in functions/graphql/src/graphiql.rs"
