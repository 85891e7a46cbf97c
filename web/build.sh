#!/usr/bin/env bash
# Builds Parley's web client into web/dist with Debian's esbuild (0.17, /usr/bin/esbuild):
# npm ci from the lockfile when node_modules is missing or stale, one ES-module bundle
# split into content-hashed chunks (the flow builder is a chunk loaded on demand),
# dist/index.html naming the hashed entry files, a check that React's own code is not in
# the bundle (preact/compat stands in for it), and .gz variants of every text file.
# Usage: web/build.sh [--dev]   (--dev: no minification, inline source maps)
set -euo pipefail
cd "$(dirname "$0")"
WEB=$(pwd)
ESBUILD=${ESBUILD:-/usr/bin/esbuild}
DIST=$WEB/dist
MINIFY=(--minify)
[ "${1:-}" = "--dev" ] && MINIFY=(--sourcemap=inline)

die() {
  echo "web/build.sh: $*" >&2
  exit 1
}

[ -x "$ESBUILD" ] || die "$ESBUILD not found (Debian package esbuild)"
command -v node >/dev/null || die "node not found (Debian package nodejs)"
command -v npm >/dev/null || die "npm not found (Debian package npm)"

# npm ci wipes node_modules and installs exactly the lockfile; it runs again only when
# the lockfile changed since the last install (npm keeps a copy in node_modules).
if ! cmp -s package-lock.json node_modules/.package-lock.json.ci 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.package-lock.json.ci
fi

STAGE=$(mktemp -d "$WEB/.dist.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

"$ESBUILD" src/main.jsx --bundle --splitting --format=esm --target=es2020 \
  --outdir="$STAGE/assets" --entry-names='[name]-[hash]' --chunk-names='[name]-[hash]' \
  --asset-names='[name]-[hash]' --public-path=/assets \
  --jsx=automatic --jsx-import-source=preact \
  --alias:react=preact/compat --alias:react-dom=preact/compat \
  --loader:.svg=file --loader:.png=file --loader:.woff2=file \
  --define:process.env.NODE_ENV='"production"' \
  --legal-comments=none --metafile="$STAGE/meta.json" --log-level=warning "${MINIFY[@]}"

# React itself is installed as a peer of @xyflow/react; only preact/compat may be bundled.
node - "$STAGE/meta.json" <<'EOF'
const meta = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
const bad = Object.keys(meta.inputs).filter((p) =>
  /(^|\/)node_modules\/(react|react-dom|scheduler)\//.test(p));
if (bad.length) {
  console.error('web/build.sh: React code in the bundle:\n  ' + bad.join('\n  '));
  process.exit(1);
}
EOF

# index.html names the entry's hashed script and stylesheet.
read -r JS CSS < <(node - "$STAGE/meta.json" <<'EOF'
const meta = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
for (const [file, out] of Object.entries(meta.outputs)) {
  if (out.entryPoint === 'src/main.jsx') {
    const name = (f) => '/assets/' + f.split('/').pop();
    console.log(name(file), out.cssBundle ? name(out.cssBundle) : '');
  }
}
EOF
)
[ -n "$JS" ] && [ -n "$CSS" ] || die "no entry script or stylesheet in the metafile"
sed -e "s#@MAIN_JS@#$JS#" -e "s#@MAIN_CSS@#$CSS#" index.html >"$STAGE/index.html"
cp -r public/. "$STAGE/" 2>/dev/null || true

find "$STAGE" -type f \( -name '*.js' -o -name '*.css' -o -name '*.html' -o -name '*.svg' \) \
  -exec gzip -9 -n -k {} \;
mv "$STAGE/meta.json" "$WEB/.meta.json"

chmod 755 "$STAGE"
rm -rf "$DIST"
mv "$STAGE" "$DIST"
trap - EXIT
echo "web/build.sh: $(find "$DIST/assets" -name '*.js' | wc -l) scripts in $DIST"
