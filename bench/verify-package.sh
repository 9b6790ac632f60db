#!/usr/bin/env bash
# verify-package against its peers, in one run:
# - 1,000 small signed RPMs: verify-package vs one `rpmkeys --checksig`
#   call over the same files with a prepared --dbpath (target >= 3x);
# - a Debian chain of 200 .deb files: verify-package vs the shell
#   equivalent, gpgv InRelease + sha256sum -c of the index + xz -d and
#   sha256sum -c of the debs (target >= 2x);
# - peak memory with a 1 MiB and a 256 MiB package (flat).
# The packages are made here by rpmbuild/rpmsign and dpkg-deb/apt-ftparchive
# with a throwaway gpg key; data lives under $BENCH_DIR, never in the
# repository.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need verify-package
VP=$BIN/verify-package
bench_dir verify-package

echo "verify-package benchmark: $(nproc) cores, $REPS interleaved rounds, medians, page cache warm"
echo "  $(rpmkeys --version), $(gpgv --version | head -1), load $(cut -d' ' -f1-3 /proc/loadavg)"

bench_rpm_key

# 1,000 small signed RPMs: 20 distinct packages of 4-40 KiB, copied.
if [ ! -f rpms/p0999.rpm ]; then
  rm -rf rpms db && mkdir rpms
  for i in $(seq 0 19); do
    f=$(build_rpm "bench$i" $(( (i + 1) * 2048 )))
    sign_rpm "$f"
    for j in $(seq 0 49); do cp "$f" "rpms/p$(printf %04d $((i * 50 + j))).rpm"; done
  done
  rpmkeys --dbpath "$DIR/db" --import key.asc
fi
cat rpms/* > /dev/null
rounds vp="$VP --keyring key.asc rpms/*.rpm" rk="rpmkeys --dbpath $DIR/db --checksig rpms/*.rpm"
echo "1,000 signed RPMs ($(du -sh rpms | cut -f1)): verify-package ${T_vp}s  rpmkeys --checksig ${T_rk}s"
echo "  rpmkeys / verify-package = $(ratio "$T_rk" "$T_vp")x faster (target >= 3)"

# A Debian chain: 200 .deb of 64 KiB random content, InRelease, Packages.xz.
if [ ! -f repo/dists/stable/InRelease ]; then
  rm -rf repo build && mkdir -p repo/pool/main repo/dists/stable/main/binary-amd64
  for i in $(seq 0 199); do
    mkdir -p "build/d$i/DEBIAN" "build/d$i/usr/share/d$i"
    printf 'Package: bench%s\nVersion: 1.0\nArchitecture: all\nMaintainer: B <b@example.org>\nDescription: bench\n bench\n' "$i" > "build/d$i/DEBIAN/control"
    head -c 65536 /dev/urandom > "build/d$i/usr/share/d$i/data"
    dpkg-deb --root-owner-group -Znone --build "build/d$i" "repo/pool/main/bench${i}_1.0_all.deb" >/dev/null
  done
  (cd repo && apt-ftparchive packages pool > dists/stable/main/binary-amd64/Packages)
  xz -k repo/dists/stable/main/binary-amd64/Packages
  apt-ftparchive -o APT::FTPArchive::Release::Suite=stable release repo/dists/stable > Release.tmp
  mv Release.tmp repo/dists/stable/Release
  gpg --batch --yes -u bench@example.org --clearsign -o repo/dists/stable/InRelease repo/dists/stable/Release
fi
cat repo/pool/main/* > /dev/null
# The shell equivalent: what a careful script does for the same chain.
cat > shell-chain.sh <<'SH'
set -euo pipefail
cd "$(dirname "$0")/repo"
gpgv --keyring ../key.gpg dists/stable/InRelease 2>/dev/null
awk '/^SHA256:/ {s=1; next} /^[^ ]/ {s=0} s && $3 == "main/binary-amd64/Packages.xz" {print $1 "  dists/stable/" $3}' \
  dists/stable/InRelease | sha256sum -c --quiet --strict
xz -dc dists/stable/main/binary-amd64/Packages.xz \
  | awk '/^Filename:/ {f=$2} /^SHA256:/ {print $2 "  " f}' | sha256sum -c --quiet --strict
SH
CWD=repo rounds vd="$VP --keyring ../key.asc --release dists/stable/InRelease --index dists/stable/main/binary-amd64/Packages.xz pool/main/*.deb" \
  sd="bash ../shell-chain.sh"
echo "Debian chain, 200 .deb ($(du -sh repo/pool | cut -f1)): verify-package ${T_vd}s  gpgv+sha256sum+xz ${T_sd}s"
echo "  shell / verify-package = $(ratio "$T_sd" "$T_vd")x faster (target >= 2)"

# Memory flat in package size: one RPM and one .deb of 1 MiB and of 256 MiB
# (uncompressed payloads: the bytes are hashed, not decompressed).
for size in 1 256; do
  if [ ! -f "big$size.rpm" ]; then
    f=$(build_rpm "big$size" $((size << 20)) --define "_binary_payload w.ufdio")
    sign_rpm "$f" && cp "$f" "big$size.rpm"
  fi
  echo "peak RSS, RPM of $(stat -c %s "big$size.rpm") bytes: verify-package $(peak_rss "$VP" --keyring key.asc "big$size.rpm") KiB"
done
