#!/usr/bin/env bash
# make demo: the main job on a fresh machine, without the hardware. Renders the laptop preset (one
# InfiniBand ConnectX-6 HCA, one Ethernet ConnectX-6 Dx NIC) into a temporary directory, looks at its
# sysfs the way a real host's is read, changes the VF count through the fake kernel's rules, shows what
# the kernel refuses, and (as root, with the tools installed) lets lspci and ibstat read it. Then, as
# root, a two-node sandbox: real links in network namespaces, the drivers and the kernel's rules run
# inside a node, and everything is taken down again (a trap takes it down whatever happens).
set -euo pipefail
cd "$(dirname "$0")/.."

VFLAB=${VFLAB:-bin/vflab}
if [[ ! -x $VFLAB ]]; then
	echo "demo: $VFLAB not found; run make build (make demo does)" >&2
	exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/vflab-demo.XXXXXX")
cluster=demo-$$ # the sandbox part's cluster: namespaces vflab-demo-<pid>-*
state=          # its state directory, once `sandbox up` has been asked for
# stop_owner stops the process that keeps the sandbox in $1 alive (its background forwarder, recorded in
# the state file), so that gc takes the run for dead; only that process: its command line names $1.
stop_owner() {
	local pid
	pid=$(sed -n '/"owner"/,/}/s/.*"pid": *\([0-9][0-9]*\).*/\1/p' "$1/sandbox.json" 2>/dev/null | head -n 1)
	[[ -n $pid ]] || return 0
	if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$1"; then
		kill "$pid" 2>/dev/null || true
		for _ in {1..50}; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
}
cleanup() {
	if [[ -n $state ]]; then
		# Always take the sandbox down; if that fails, stop its forwarder and collect what is left.
		if ! "$VFLAB" sandbox down --state "$state" >/dev/null 2>&1; then
			echo "demo: sandbox down failed; collecting the leftovers of $cluster" >&2
			stop_owner "$state"
			"$VFLAB" sandbox gc --prefix "vflab-$cluster-" >&2 || true
		fi
		rm -rf "$state"
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
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

sandbox_skip=
if [[ $(id -u) != 0 ]]; then
	sandbox_skip="needs root (network namespaces, TUN devices)"
elif ! command -v ip >/dev/null || ! ip netns list >/dev/null 2>&1; then
	sandbox_skip="needs iproute2 with netns support"
elif [[ ! -c /dev/net/tun ]]; then
	sandbox_skip="needs /dev/net/tun"
fi
if [[ -n $sandbox_skip ]]; then
	step "Skipping the sandbox (2 nodes with real links in network namespaces): it $sandbox_skip"
else
	# Fake kernels on tmpfs: a node is thousands of files.
	shm=/dev/shm
	[[ -d $shm && -w $shm ]] || shm=$work
	state=$(mktemp -d "$shm/vflab-demo-sandbox.XXXXXX")
	node=laptop-0
	ns=vflab-$cluster-$node
	nroot=$state/nodes/$node/root
	ibpf=/sys/bus/pci/devices/0000:3b:00.0
	innode() { ip netns exec "$ns" env VFLAB_ROOT="$nroot" "$@"; }

	step "A sandbox: two laptop nodes, each a network namespace whose every netdev is a real link"
	run "$VFLAB" sandbox up --preset laptop --nodes 2 --state "$state" --name "$cluster"

	step "The real links of node $node: Ethernet PF and VFs are veths, InfiniBand ones TUN devices"
	run ip -n "$ns" -br link
	run ip -n "$ns" -d link show ibp59s0v0

	step "vflab's drivers inside the node (VFLAB_ROOT names the node's fake kernel)"
	printf '$ ip netns exec %s env VFLAB_ROOT=%s %s inspect\n' "$ns" "$nroot" "$VFLAB"
	innode "$VFLAB" inspect

	step "Enable all 8 InfiniBand VFs from inside the node: the kernel's rules create the real links"
	printf '$ ip netns exec %s env VFLAB_ROOT=%s %s sys write %s 0   (then 8)\n' "$ns" "$nroot" "$VFLAB" "$ibpf/sriov_numvfs"
	innode "$VFLAB" sys write "$ibpf/sriov_numvfs" 0
	innode "$VFLAB" sys write "$ibpf/sriov_numvfs" 8
	run ip -n "$ns" -br link
	printf '$ ip netns exec %s env VFLAB_ROOT=%s %s sys ls /sys/class/net\n' "$ns" "$nroot" "$VFLAB"
	innode "$VFLAB" sys ls /sys/class/net
	n=$(ip -n "$ns" -o link show | grep -c 'link/infiniband')
	if [[ $n != 9 ]]; then
		echo "demo: expected 9 links of type infiniband in $ns (PF + 8 VFs), found $n" >&2
		exit 1
	fi

	step "Take the sandbox down: namespaces, links, forwarder and fake kernels go"
	run "$VFLAB" sandbox down --state "$state"
	rm -rf "$state"
	state=
	if ip netns list | grep -q "^vflab-$cluster-"; then
		echo "demo: namespaces of $cluster left after sandbox down" >&2
		exit 1
	fi
fi

step "Done"
echo "The same tree is what vflab's drivers and device plugin read in a simulation."
