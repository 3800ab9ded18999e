#!/usr/bin/env bash
# `make release`: every function of template.yaml in ONE release build (cargo lambda, plain
# cargo as the compiler, so no zig is needed), each `bootstrap` in target/lambda/<binary>/ where
# the template's CodeUri points; then checks each will run on provided.al2023.
# ARCH=arm64 cross-compiles with cargo lambda's zig instead (not exercised in CI).
# RELEASE_EXTRA_BINS adds binaries to the same build (make bench: the hello-world baseline).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
arch=${ARCH:-x86_64}
lambda="$root/.venv/bin/cargo-lambda"
[ -x "$lambda" ] || { echo "release: $lambda missing; run 'make tools'" >&2; exit 2; }

# The binaries the template deploys (Metadata.BuildProperties.Binary of each function).
mapfile -t bins < <(sed -n 's/^ *Binary: *\([A-Za-z0-9_-]*\) *$/\1/p' template.yaml)
[ ${#bins[@]} -gt 0 ] || { echo "release: no Binary in template.yaml" >&2; exit 2; }
# shellcheck disable=SC2206
bins+=(${RELEASE_EXTRA_BINS:-})
args=()
for b in "${bins[@]}"; do args+=(--bin "$b"); done
case "$arch" in
  x86_64) args+=(--compiler cargo --x86-64) ;;
  arm64) args+=(--arm64) ;;
  *) echo "release: ARCH must be x86_64 or arm64" >&2; exit 2 ;;
esac

started=$SECONDS
# shellcheck disable=SC2086
"$lambda" lambda build --release ${CARGO_FLAGS:-} "${args[@]}"
echo "release: built ${bins[*]} in $((SECONDS - started)) s" >&2

# provided.al2023 has glibc 2.34: a binary linked against a newer symbol would not start.
# The version strings of the dynamic symbol table are in the file as text.
status=0
for b in "${bins[@]}"; do
  f="target/lambda/$b/bootstrap"
  [ -x "$f" ] || { echo "release: $f missing" >&2; status=1; continue; }
  need=$(grep -a -o 'GLIBC_2\.[0-9]*' "$f" | sort -u -t. -k2,2n | tail -1)
  minor=${need#GLIBC_2.}
  if [ -n "$minor" ] && [ "$minor" -gt 34 ]; then
    echo "release: $f needs $need; provided.al2023 has GLIBC_2.34" >&2
    status=1
  fi
  printf '%-28s %9s bytes  needs %s\n' "$f" "$(stat -c %s "$f")" "${need:-no glibc}"
done
exit "$status"
