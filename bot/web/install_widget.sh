#!/bin/sh
# Install the pinned chat widget: rasa-webchat@1.0.1's UMD bundle (lib/index.js, ~700 KB) from npm
# into bot/web/static/webchat.js (gitignored). Idempotent; verifies the bundle's sha512. Needs npm.
#   sh bot/web/install_widget.sh
set -eu
VERSION=1.0.1
SHA512=3f4112c3c5b6f852ecb296b88f83319381b132c4280b6b73167ecac7da178ef89e7436db263e3aa4cabf7a98e43a205a8c63896a94ef0624c6506a18247a1e2d
here=$(cd "$(dirname "$0")" && pwd)
dest="$here/static/webchat.js"
if [ -f "$dest" ] && [ "$(sha512sum "$dest" | cut -d' ' -f1)" = "$SHA512" ]; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "rasa-webchat@$VERSION" >/dev/null)
tar -xzf "$tmp/rasa-webchat-$VERSION.tgz" -C "$tmp" package/lib/index.js
if [ "$(sha512sum "$tmp/package/lib/index.js" | cut -d' ' -f1)" != "$SHA512" ]; then
  echo "rasa-webchat@$VERSION lib/index.js does not match the pinned sha512" >&2
  exit 1
fi
mkdir -p "$here/static"
cp "$tmp/package/lib/index.js" "$dest"
echo "installed rasa-webchat@$VERSION -> $dest"
