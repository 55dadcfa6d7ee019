# Shared by scripts/quickstart and scripts/test (sourced): install what is missing, build.

# Debian 12 packages the build, the tests and the benchmark need.
SCORCH_PACKAGES=(
	gcc g++ libc6-dev libc6-dbg scdoc bash-completion pkg-config meson ninja-build clang libclang-rt-14-dev llvm binutils
	libbpf-dev libelf-dev libdw-dev libdebuginfod-dev debuginfod libcurl4-openssl-dev libzstd-dev libiberty-dev liblzma-dev xz-utils libprotobuf-c-dev protobuf-c-compiler zlib1g-dev bpftool
	golang-go util-linux procps strace time gawk clang-format python3 python3.11 python3.11-dev python3-grpcio python3-protobuf python3-prometheus-client python3-yaml protobuf-compiler openssl curl
	libmicrohttpd-dev libyaml-dev libxml2-utils chromium python3-pil nodejs openjdk-17-jdk-headless
	qemu-system-x86 busybox-static
)

log() { printf '==> %s\n' "$*" >&2; }

install_missing() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		log "missing packages: ${missing[*]} (run as root to install them)"
		return 1
	fi
	log "installing: ${missing[*]}"
	apt-get update -qq || return 1
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# build DIR [meson options...]
build() {
	local dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson configure "$dir" "$@" >/dev/null || return 1
	else
		meson setup "$dir" "$@" >/dev/null || return 1
	fi
	ninja -C "$dir" >/dev/null || ninja -C "$dir"
}
