#!/usr/bin/env bash
# What a present source costs `make get-sources` now that it is never
# taken as done (issue 23): the kernel-style Makefile of the Make fragment
# (fetch-decompressed-rule: the .tar.xz served, the .tar signed and kept,
# its signature kept beside it), run again with everything present, so the
# .tar is re-verified offline against the kept .sign. Against, in one run:
#   - `gpgv SIG .tar`: the same check by gpgv;
#   - `xzcat .tar.xz | gpgv SIG -`: Qubes linux-kernel's verify-sources,
#     which ran at every build;
#   - the old fragment's second `make get-sources`: nothing (make saw the
#     file and trusted it), shown as make's own start-up.
# Medians of REPS interleaved rounds, page cache warm.
# Usage: bench/make-reverify.sh [SIZE_MIB]
set -euo pipefail
SIZE_MIB=${1:-512}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need fetch-verified
bench_dir make-reverify www component
bench_ed25519_key
kernel_like_release "$SIZE_MIB"
cat > component/Makefile <<MK
FETCH_VERIFIED := $BIN/fetch-verified
BUILD_VERIFY_FETCH_FLAGS := --quiet
BUILD_VERIFY_MK := $ROOT/make
-include \$(BUILD_VERIFY_MK)/build-verify.mk
\$(eval \$(call fetch-decompressed-rule,src.tar,file://$DIR/www/src.tar.xz,file://$DIR/www/src.tar.sign,$DIR/pub.asc))
get-sources: \$(BUILD_VERIFY_SOURCES)
nothing:
MK
make -s -C component get-sources
# A pipeline is one word for `rounds`: a script.
printf '#!/bin/sh\nxzcat www/src.tar.xz | gpgv --keyring ./pub.gpg www/src.tar.sign - 2>/dev/null\n' > qubes-verify
chmod +x qubes-verify
echo "make get-sources, present: ${SIZE_MIB} MiB .tar re-verified, median of $REPS, $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
rounds \
  ours="make -s -C component get-sources" \
  gpgv="gpgv --keyring ./pub.gpg component/src.tar.sign component/src.tar" \
  qubes="./qubes-verify" \
  before="make -s -C component nothing"
printf '  %-48s %6ss\n' "make get-sources (offline re-verification)" "$T_ours" \
  "gpgv SIG .tar" "$T_gpgv" "xzcat .tar.xz | gpgv SIG - (Qubes verify-sources)" "$T_qubes" \
  "make alone (the old fragment: file trusted)" "$T_before"
echo "  ours / gpgv            = $(ratio "$T_ours" "$T_gpgv")x"
echo "  ours / xzcat | gpgv    = $(ratio "$T_ours" "$T_qubes")x"
gpgconf --kill gpg-agent 2>/dev/null || true
