#!/usr/bin/env bash
# verify-package --repo against its peers, in one run (issue 25):
# - a repository of 1,000 signed packages checked whole: verify-package
#   --repo --all vs the shell equivalent (gpgv on repomd.xml, sha256sum -c
#   of the primary against repomd.xml and of every package against a list
#   derived from the primary, rpmkeys --checksig on every package)
#   (target >= 3x);
# - a primary.xml the size of Fedora's (70,000 packages, bench/gen-primary.py),
#   zstd-compressed: verified (checksum, open-checksum) parsed and indexed by
#   verify-package vs `zstdcat > /dev/null` of the same file (target <= 1.5x),
#   and its peak memory (target < 200 MiB).
# Data lives under $BENCH_DIR, never in the repository.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need verify-package
VP=$BIN/verify-package
GEN=$ROOT/bench/gen-primary.py
bench_dir rpm-repo

echo "rpm-repo benchmark: $(nproc) cores, $REPS interleaved rounds, medians, page cache warm"
echo "  $(rpmkeys --version), $(gpgv --version | head -1), $(zstd --version), load $(cut -d' ' -f1-3 /proc/loadavg)"

# CPU seconds (user + system, children included) of one run: on a loaded
# machine the wall-clock ratios say more about the load than the tools.
cpu() { measure "%U+%S" "$@" | awk -F+ '{print $1 + $2}'; }

bench_rpm_key

# 1,000 signed packages of 2-40 KiB: one spec with 1,000 subpackages (one
# rpmbuild), signed in one rpmsign call, in a createrepo_c repository whose
# repomd.xml gpg signs.
if [ ! -f repo/repodata/repomd.xml.asc ]; then
  rm -rf repo top && mkdir -p repo/Packages top/SPECS top/SOURCES/data
  {
    printf 'Name: bench\nVersion: 1.0\nRelease: 1\nSummary: bench\nLicense: MIT\nBuildArch: noarch\n'
    printf '%%description\nbench\n'
    for i in $(seq -w 0 999); do
      printf '%%package -n bench%s\nSummary: bench %s\n%%description -n bench%s\nbench\n' "$i" "$i" "$i"
      printf '%%files -n bench%s\n/usr/share/bench/f%s\n' "$i" "$i"
    done
    printf '%%install\nmkdir -p %%{buildroot}/usr/share/bench\ncp %s/top/SOURCES/data/* %%{buildroot}/usr/share/bench/\n' "$DIR"
  } > top/SPECS/bench.spec
  for i in $(seq -w 0 999); do
    head -c $(( (10#$i % 20 + 1) * 2048 )) /dev/urandom > "top/SOURCES/data/f$i"
  done
  rpmbuild --quiet --define "_topdir $DIR/top" -bb top/SPECS/bench.spec >/dev/null 2>&1
  mv top/RPMS/noarch/bench?*.rpm repo/Packages/
  sign_rpm repo/Packages/*.rpm
  createrepo_c -q --no-database repo
  gpg --batch --yes -u bench@example.org --armor --detach-sign repo/repodata/repomd.xml
  rm -rf db && rpmkeys --dbpath "$DIR/db" --import key.asc
fi
cat repo/Packages/* repo/repodata/* > /dev/null
# The shell equivalent: what a careful script does for the same chain.
cat > shell-chain.sh <<'SH'
set -euo pipefail
cd "$(dirname "$0")/repo"
gpgv --keyring ../key.gpg repodata/repomd.xml.asc repodata/repomd.xml 2>/dev/null
primary=$(sed -n '/<data type="primary">/,/<\/data>/s|.*<location href="\([^"]*\)".*|\1|p' repodata/repomd.xml)
sed -n '/<data type="primary">/,/<\/data>/s|.*<checksum type="sha256">\([0-9a-f]*\)<.*|\1|p' repodata/repomd.xml \
  | awk -v f="$primary" '{print $1 "  " f}' | sha256sum -c --quiet --strict
zcat "$primary" | awk -F'"' '/<checksum type="sha256"/ {split($0, a, ">"); split(a[2], b, "<"); h=b[1]}
  /<location href=/ {print h "  " $2}' | sha256sum -c --quiet --strict
rpmkeys --dbpath "$(cd .. && pwd)/db" --checksig Packages/*.rpm | awk '!/: digests signatures OK$/ {bad = 1} END {exit bad}'
SH
rounds vp="$VP --keyring key.asc --repo repo --all --quiet" sh="bash shell-chain.sh"
echo "a repository of 1,000 signed RPMs ($(du -sh repo | cut -f1)), checked whole: verify-package ${T_vp}s  gpgv+sha256sum+rpmkeys ${T_sh}s"
echo "  shell / verify-package = $(ratio "$T_sh" "$T_vp")x faster (target >= 3)"
c_vp=$(cpu $VP --keyring key.asc --repo repo --all --quiet); c_sh=$(cpu bash shell-chain.sh)
echo "  CPU seconds: verify-package $c_vp  shell $c_sh  ($(ratio "$c_sh" "$c_vp")x)"

# A Fedora-sized primary.xml, zstd-compressed, in a repository of its own
# (repomd.xml pinned by its SHA-256: the signature is not what is measured).
if [ ! -f big/repodata/repomd.xml ]; then
  rm -rf big && mkdir -p big/repodata
  python3 "$GEN" 70000 > big/primary.xml
  zstd -q big/primary.xml -o big/primary.xml.zst
  sum=$(sha256sum < big/primary.xml.zst | cut -c1-64)
  open=$(sha256sum < big/primary.xml | cut -c1-64)
  mv big/primary.xml.zst "big/repodata/$sum-primary.xml.zst"
  cat > big/repodata/repomd.xml <<XML
<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1713193444</revision>
  <data type="primary">
    <checksum type="sha256">$sum</checksum>
    <open-checksum type="sha256">$open</open-checksum>
    <location href="repodata/$sum-primary.xml.zst"/>
    <timestamp>1713193444</timestamp>
    <size>$(stat -c %s "big/repodata/$sum-primary.xml.zst")</size>
    <open-size>$(stat -c %s big/primary.xml)</open-size>
  </data>
</repomd>
XML
  rm big/primary.xml
fi
zst=$(ls big/repodata/*-primary.xml.zst)
pin=$(sha256sum < big/repodata/repomd.xml | cut -c1-64)
cat "$zst" > /dev/null
cat > zstdcat.sh <<SH
zstdcat "$zst" > /dev/null
SH
rounds vb="$VP --keyring key.asc --repo big --repomd-sha256 $pin --quiet" zc="bash zstdcat.sh"
echo "primary.xml of 70,000 packages ($(zstdcat "$zst" | wc -c) bytes, $(stat -c %s "$zst") zstd): verify-package ${T_vb}s  zstdcat ${T_zc}s"
echo "  verify-package / zstdcat = $(ratio "$T_vb" "$T_zc")x (target <= 1.5)"
c_vb=$(cpu $VP --keyring key.asc --repo big --repomd-sha256 "$pin" --quiet); c_zc=$(cpu bash zstdcat.sh)
echo "  CPU seconds: verify-package $c_vb  zstdcat $c_zc  ($(ratio "$c_vb" "$c_zc")x)"
echo "peak RSS, that primary verified and indexed: verify-package $(peak_rss "$VP" --keyring key.asc --repo big --repomd-sha256 "$pin" --quiet) KiB (target < 204800)"
