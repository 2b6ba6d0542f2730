#!/usr/bin/env bash
# make demo: the main job on a fresh machine, without the hardware. Renders the laptop preset (one
# InfiniBand ConnectX-6 HCA, one Ethernet ConnectX-6 Dx NIC) into a temporary directory, looks at its
# sysfs the way a real host's is read, changes the VF count through the fake kernel's rules, shows what
# the kernel refuses, and (as root, with the tools installed) lets lspci and ibstat read it.
set -euo pipefail
cd "$(dirname "$0")/.."

VFLAB=${VFLAB:-bin/vflab}
if [[ ! -x $VFLAB ]]; then
	echo "demo: $VFLAB not found; run make build (make demo does)" >&2
	exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/vflab-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/laptop
pf=/sys/bus/pci/devices/0000:3b:00.0

bold=$'\e[1m' reset=$'\e[0m'
[[ -t 1 ]] || bold='' reset=''
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$reset"; }
run() {
	printf '$ %s\n' "$*"
	"$@"
}
# refused runs a command that must fail, and shows the kernel's answer.
refused() {
	printf '$ %s\n' "$*"
	if "$@"; then
		echo "demo: expected the kernel to refuse this" >&2
		exit 1
	fi
}

step "The built-in nodes"
run "$VFLAB" topology presets

step "Render the laptop node: its sysfs and /dev, as files and relative symlinks"
run "$VFLAB" topology render --preset laptop --out "$root"

step "Read it like a real host: links at the kernel's depths, attributes in the kernel's formats"
run ls -l "$root/sys/class/net/"
run "$VFLAB" sys readlink --root "$root" "$pf/virtfn0"
run "$VFLAB" sys cat --root "$root" "$pf/sriov_totalvfs" "$pf/sriov_numvfs" "$pf/sriov_vf_device" \
	/sys/class/infiniband/mlx5_0/ports/1/state /sys/class/infiniband/mlx5_0/ports/1/rate

step "Change the VF count: the kernel wants 0 first, then the new count"
run "$VFLAB" sys write --root "$root" "$pf/sriov_numvfs" 0
run "$VFLAB" sys write --root "$root" "$pf/sriov_numvfs" 8
run "$VFLAB" sys cat --root "$root" "$pf/sriov_numvfs"
run "$VFLAB" sys ls --root "$root" /sys/class/infiniband

step "What the kernel refuses, with its own words"
refused "$VFLAB" sys write --root "$root" "$pf/sriov_numvfs" 9   # above sriov_totalvfs: ERANGE
refused "$VFLAB" sys write --root "$root" "$pf/sriov_numvfs" 2   # VFs already enabled: EBUSY
refused "$VFLAB" sys cat --root "$root" /sys/class/net/ibp59s0v0/phys_port_name # VFs have none: EOPNOTSUPP

if "$VFLAB" inspect --help >/dev/null 2>&1; then
	step "What vflab's drivers discover on this node"
	run "$VFLAB" inspect --root "$root"
fi

if [[ $(id -u) == 0 ]] && command -v unshare >/dev/null && command -v lspci >/dev/null && command -v ibstat >/dev/null &&
	unshare --mount --propagation private true 2>/dev/null; then
	step "Real tools, with the fake sys bind-mounted over /sys in a private mount namespace"
	printf '$ unshare -m sh -c "mount --bind %s /sys && lspci -nn -d 15b3: && ibstat mlx5_0"\n' "$root/sys"
	unshare --mount --propagation private sh -c \
		'mount --bind "$1/sys" /sys && lspci -D -nn -d 15b3: -A linux-sysfs 2>/dev/null && ibstat mlx5_0' sh "$root"
else
	step "Skipping lspci/ibstat: needs root, unshare, pciutils and infiniband-diags"
fi

step "Done"
echo "The same tree is what vflab's drivers, device plugin and CNI plugins read in a simulation."
