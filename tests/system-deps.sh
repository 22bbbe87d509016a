#!/usr/bin/env bash
# The programs the test suite drives, from Debian packages, installed when one is missing:
#   dot (graphviz): the widget's and the server's graph layout, the static SVG;
#   chromium: the browser tests drive a real JupyterLab through Playwright (never `playwright
#     install`: nothing is downloaded at test time);
#   unshare, setpriv (util-linux): the --host-exec sandbox;
#   busybox, cowsay: programs of the images that upstream's Argo examples use.
# Without root (or password-less sudo) it names the packages to install and fails.
set -euo pipefail

declare -A needs=(
  [dot]=graphviz
  [chromium]=chromium
  [unshare]=util-linux
  [setpriv]=util-linux
  [busybox]=busybox
  [cowsay]=cowsay
)
missing=()
for program in "${!needs[@]}"; do
  if ! command -v "$program" >/dev/null && ! [ -x "/usr/games/$program" ]; then
    missing+=("${needs[$program]}")
  fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0
mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" = 0 ]; then
  sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "the tests need these Debian packages: ${packages[*]} (apt-get install -y ${packages[*]})" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "the tests need: ${packages[*]}; this machine has no apt-get to install them" >&2
  exit 1
fi
echo "installing ${packages[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${packages[@]}" >/dev/null
