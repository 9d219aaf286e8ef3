#!/usr/bin/env bash
# The proxy's container image, built from nothing: no base image is pulled. The image holds the
# fcc-proxy binary, the C library and loader it links (this Debian's, found with ldd), the CA
# roots (/etc/ssl/certs/ca-certificates.crt, for https:// RPC endpoints) and an empty state
# directory owned by an unprivileged user — nothing else: no shell, no package manager. In the
# image the API and the link listen on every interface (FCC_PROXY_HTTP, FCC_PROXY_LINK: the
# environment outranks a configuration file); everything else is the configuration's, and the
# default database is SQLite in the state directory.
#
#   cargo build --release -p fcc-proxy
#   host-proxy/deploy/build-image.sh target/release/fcc-proxy [localhost/fcc-proxy:latest]
#
# Needs Debian's buildah (apt-get install buildah). Extra buildah options (e.g. --root, --runroot,
# --storage-driver vfs) go in BUILDAH_OPTS. The image's timestamps are zero, so the same binary
# and libraries give the same image.
set -euo pipefail

bin=${1:?usage: build-image.sh <fcc-proxy binary> [image name]}
tag=${2:-localhost/fcc-proxy:latest}
# shellcheck disable=SC2206
buildah=(buildah ${BUILDAH_OPTS:-})
uid=65532

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
install -D -m 0755 "$bin" "$root/usr/local/bin/fcc-proxy"
# The dynamic loader and every library the binary needs, at the paths ldd resolves (none for a
# static binary: ldd then says so and fails).
{ ldd "$bin" 2>/dev/null || true; } | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u | while read -r lib; do
    # (the loader must be executable: the kernel opens it as it opens the binary)
    install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
done
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
state=$(mktemp -d)
ctr=
# On failure, the working container goes too (commit --rm removes it on success).
trap 'rm -rf "$root" "$state"; [ -z "$ctr" ] || "${buildah[@]}" rm "$ctr" >/dev/null 2>&1 || true' EXIT
install -d -m 0700 "$state/fcc-proxy"

ctr=$("${buildah[@]}" from scratch)
"${buildah[@]}" copy --quiet "$ctr" "$root" / >/dev/null
# The state directory, the one place the proxy writes: its user's alone.
"${buildah[@]}" copy --quiet --chown "$uid:$uid" "$ctr" "$state" /var/lib >/dev/null
"${buildah[@]}" config \
    --entrypoint '["/usr/local/bin/fcc-proxy"]' --cmd '' \
    --user "$uid:$uid" --workingdir /var/lib/fcc-proxy \
    --env FCC_PROXY_HTTP=0.0.0.0:6660 --env FCC_PROXY_LINK=0.0.0.0:6661 \
    --port 6660/tcp --port 6661/tcp \
    --label org.opencontainers.image.title=fcc-proxy \
    --label org.opencontainers.image.licenses=Apache-2.0 \
    "$ctr"
"${buildah[@]}" commit --quiet --rm --timestamp 0 "$ctr" "$tag"
