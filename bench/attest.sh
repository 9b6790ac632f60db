#!/usr/bin/env bash
# Rebuilders' attestations (issue 26), in one run: 1,000 packages of
# 64 KiB checked against 3 rebuilders' in-toto links (3,000 links on disk,
# Ed25519, written by Python's in-toto), K = 3:
# - verify-package --attestations DIR --rebuilders FILE --min-rebuilders 3
#   --attestations-decide over the 1,000 files;
# - the same check with Python's in-toto 3 in one process: every link
#   loaded and its signature verified (Metablock.verify_signature), the
#   products indexed, every package hashed and counted (target >= 5x).
# Data lives under $BENCH_DIR, never in the repository. Python's in-toto is
# $BUILD_VERIFY_IN_TOTO_PYTHON, or a virtual environment made here.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need verify-package
VP=$BIN/verify-package
bench_dir attest pkgs att
PY=${BUILD_VERIFY_IN_TOTO_PYTHON:-$DIR/venv/bin/python}
if ! "$PY" -c 'import in_toto' 2>/dev/null; then
  python3 -m venv "$DIR/venv"
  "$DIR/venv/bin/pip" install --quiet --disable-pip-version-check 'in-toto>=3,<4'
  PY=$DIR/venv/bin/python
fi

echo "attestation benchmark: $(nproc) cores, $REPS interleaved rounds, medians, page cache warm"
echo "  in-toto $("$PY" -c 'import in_toto; print(in_toto.__version__)'), load $(cut -d' ' -f1-3 /proc/loadavg)"

# 1,000 packages, 3 rebuilders, a link per rebuilder and package.
if [ ! -f att/r3-0999.link ]; then
  for i in $(seq -f %04g 0 999); do head -c 65536 /dev/urandom > "pkgs/p$i.deb"; done
  "$PY" - "$DIR" <<'PY'
import hashlib, os, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from securesystemslib.signer import CryptoSigner
from in_toto.models.link import Link
from in_toto.models.metadata import Metablock
d = sys.argv[1]
pkgs = sorted(os.listdir(d + "/pkgs"))
with open(d + "/rebuilders", "w") as policy:
    for r in ("r1", "r2", "r3"):
        priv = Ed25519PrivateKey.generate()
        open(f"{d}/{r}.pub", "wb").write(priv.public_key().public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
        policy.write(f"{r} {r}.pub\n")
        signer = CryptoSigner(priv)
        for i, p in enumerate(pkgs):
            sha = hashlib.sha256(open(f"{d}/pkgs/{p}", "rb").read()).hexdigest()
            mb = Metablock(signed=Link(name="rebuild " + p, materials={},
                                       products={p: {"sha256": sha}}, byproducts={},
                                       command=[], environment={}))
            mb.create_signature(signer)
            mb.dump(f"{d}/att/{r}-{i:04d}.link")
PY
fi
# The same check in Python, one process.
cat > check.py <<'PY'
import hashlib, os, sys
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.signer import SSlibKey
from in_toto.models.metadata import Metablock
d, k = sys.argv[1], int(sys.argv[2])
keys = {}
for line in open(d + "/rebuilders"):
    name, pub = line.split()
    key = SSlibKey.from_crypto(load_pem_public_key(open(f"{d}/{pub}", "rb").read()))
    kd = key.to_dict(); kd["keyid"] = key.keyid
    keys[key.keyid] = (name, kd)
attested = {}
for f in sorted(os.listdir(d + "/att")):
    mb = Metablock.load(f"{d}/att/{f}")
    for sig in mb.signatures:
        if sig["keyid"] in keys:
            name, kd = keys[sig["keyid"]]
            mb.verify_signature(kd)
            for digests in mb.signed.products.values():
                attested.setdefault(digests["sha256"], set()).add(name)
bad = 0
for p in sorted(os.listdir(d + "/pkgs")):
    sha = hashlib.sha256(open(f"{d}/pkgs/{p}", "rb").read()).hexdigest()
    bad += len(attested.get(sha, ())) < k
sys.exit(1 if bad else 0)
PY
cat pkgs/* att/* > /dev/null
# Both must pass (a failing run aborts the benchmark).
rounds vp="$VP --attestations att --rebuilders rebuilders --min-rebuilders 3 --attestations-decide --quiet pkgs/*.deb" \
  py="$PY check.py $DIR 3"
echo "1,000 packages x 3 rebuilders ($(ls att | wc -l) links, $(du -sh pkgs | cut -f1) of packages): verify-package ${T_vp}s  python in-toto ${T_py}s"
echo "  python / verify-package = $(ratio "$T_py" "$T_vp")x faster (target >= 5)"
