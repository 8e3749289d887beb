#!/usr/bin/env bash
# Refresh the browser pages' vendored libraries from the npm registry: the provider SDKs of the
# conversation page and the chart library of the admin console.
#
# For maintainers only: installing or running Visavis never needs Node.js or npm. Needs `npm`
# (for `npm pack`) and python3. Versions can be overridden:
#   LIVEKIT_VERSION=2.23.0 AGORA_VERSION=4.24.8 UPLOT_VERSION=1.6.32 scripts/refresh-web-vendor.sh
# Writes src/visavis/web/static/vendor/: the minified UMD builds, their licenses and
# VERSIONS.json (versions, tarball integrity, sha256 of each file). Review the diff, run the
# browser tests (pytest tests/web), commit.
set -euo pipefail

LIVEKIT_VERSION="${LIVEKIT_VERSION:-2.23.0}"
AGORA_VERSION="${AGORA_VERSION:-4.24.8}"
UPLOT_VERSION="${UPLOT_VERSION:-1.6.32}"

root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/src/visavis/web/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

command -v npm >/dev/null || { echo "npm is needed to refresh the vendored SDKs" >&2; exit 1; }

cd "$work"
npm pack --silent --json "livekit-client@$LIVEKIT_VERSION" "agora-rtc-sdk-ng@$AGORA_VERSION" \
  "uplot@$UPLOT_VERSION" > packs.json
mkdir livekit agora uplot
tar xzf "livekit-client-$LIVEKIT_VERSION.tgz" -C livekit
tar xzf "agora-rtc-sdk-ng-$AGORA_VERSION.tgz" -C agora
tar xzf "uplot-$UPLOT_VERSION.tgz" -C uplot

mkdir -p "$vendor"
# The source maps are not shipped: drop the comment that would make devtools ask for them.
sed '/^\/\/# sourceMappingURL=/d' livekit/package/dist/livekit-client.umd.js > "$vendor/livekit-client.min.js"
cp livekit/package/LICENSE "$vendor/livekit-client.LICENSE.txt"
sed '/^\/\/# sourceMappingURL=/d' agora/package/AgoraRTC_N-production.js > "$vendor/agora-rtc-sdk-ng.min.js"
cp uplot/package/dist/uPlot.iife.min.js "$vendor/uplot.min.js"
cp uplot/package/dist/uPlot.min.css "$vendor/uplot.min.css"
cp uplot/package/LICENSE "$vendor/uplot.LICENSE.txt"

python3 - "$vendor" "$LIVEKIT_VERSION" "$AGORA_VERSION" "$UPLOT_VERSION" <<'PY'
import hashlib
import json
import pathlib
import sys

vendor = pathlib.Path(sys.argv[1])
livekit_version, agora_version, uplot_version = sys.argv[2:5]
agora_package = json.loads(pathlib.Path("agora/package/package.json").read_text())
declared = agora_package.get("license", "UNKNOWN")
if declared != "MIT":
    sys.exit(f"agora-rtc-sdk-ng {agora_version} declares license {declared!r}: review it first")
# The Agora package ships no license file; its package.json declares MIT and its bundle's
# header reads "Copyright AgoraInc.". Keep both facts next to the file.
(vendor / "agora-rtc-sdk-ng.LICENSE.txt").write_text(
    f"agora-rtc-sdk-ng {agora_version} (npm). The package declares \"license\": \"MIT\" in its\n"
    "package.json and ships no license text; the bundle's header reads \"Copyright AgoraInc.\".\n"
    "The MIT license, as declared:\n\n"
    "MIT License\n\n"
    "Copyright (c) Agora Inc.\n\n"
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this\n"
    "software and associated documentation files (the \"Software\"), to deal in the Software\n"
    "without restriction, including without limitation the rights to use, copy, modify, merge,\n"
    "publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons\n"
    "to whom the Software is furnished to do so, subject to the following conditions:\n\n"
    "The above copyright notice and this permission notice shall be included in all copies or\n"
    "substantial portions of the Software.\n\n"
    "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,\n"
    "INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR\n"
    "PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE\n"
    "FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR\n"
    "OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER\n"
    "DEALINGS IN THE SOFTWARE.\n"
)
packs = {p["name"]: p for p in json.loads(pathlib.Path("packs.json").read_text())}


def sha256(name: str) -> str:
    return hashlib.sha256((vendor / name).read_bytes()).hexdigest()


uplot_license = json.loads(pathlib.Path("uplot/package/package.json").read_text())["license"]
if uplot_license != "MIT":
    sys.exit(f"uplot {uplot_version} declares license {uplot_license!r}: review it first")
# Entries of packages this script does not refresh (daily-js) are kept as they are.
versions = json.loads((vendor / "VERSIONS.json").read_text())
versions |= {
    "livekit-client": {
        "version": livekit_version,
        "license": "Apache-2.0",
        "from": "dist/livekit-client.umd.js",
        "integrity": packs["livekit-client"]["integrity"],
        "files": {n: sha256(n) for n in ("livekit-client.min.js", "livekit-client.LICENSE.txt")},
    },
    "agora-rtc-sdk-ng": {
        "version": agora_version,
        "license": declared,
        "from": "AgoraRTC_N-production.js",
        "integrity": packs["agora-rtc-sdk-ng"]["integrity"],
        "files": {n: sha256(n) for n in ("agora-rtc-sdk-ng.min.js", "agora-rtc-sdk-ng.LICENSE.txt")},
    },
    "uplot": {
        "version": uplot_version,
        "license": uplot_license,
        "from": "dist/uPlot.iife.min.js, dist/uPlot.min.css",
        "integrity": packs["uplot"]["integrity"],
        "files": {n: sha256(n) for n in ("uplot.min.js", "uplot.min.css", "uplot.LICENSE.txt")},
    },
}
(vendor / "VERSIONS.json").write_text(json.dumps(versions, indent=2) + "\n")
print(json.dumps({k: v["version"] for k, v in versions.items()}))
PY
