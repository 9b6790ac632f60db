#!/usr/bin/env bash
# sign-log witness and verify-proof (c2sp.org/tlog-witness, tlog-proof),
# in one run, REPS runs each (at least 20 for the witness), medians:
# - the witness answering one add-checkpoint for a log of LINES lines
#   (LINES + 2 records) 1,001 records ahead of the size it holds (a session
#   of 998 lines and its seal), as a process per request (CGI, qrexec,
#   socket activation): its CPU time (user + system, from the kernel's
#   accounting of the child), its state put back before each run; against
#   `openssl pkeyutl -verify` of one Ed25519 signature over the checkpoint
#   (a process doing the witness's one signature check, nothing else) and
#   /bin/true (a process);
# - verify-proof of a .tlog-proof for a 100 MiB artifact (hashed, the
#   proof and the log's and a witness's signatures checked), against
#   `openssl dgst -sha256` of the artifact.
#   BIN=target/release bash bench/sign-log-witness.sh
set -euo pipefail
LINES=${LINES:-1000000}
ART_MIB=${ART_MIB:-100}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need sign-log examples/demo-keys
SL=$BIN/sign-log
bench_dir sign-log-witness
ORIGIN=bench.example.org/witnessed
WREPS=$((REPS > 20 ? REPS : 20))

if [ ! -f ready ]; then
  rm -rf log state* proofs
  "$BIN/examples/demo-keys" keygen "Log <log@example.org>" key.asc pub.asc > /dev/null
  rm -f note.key w.key
  "$SL" keygen --name "$ORIGIN" --secret note.key > note.vkey
  "$SL" keygen --witness --name witness.example/w --secret w.key > w.vkey
  head -c $((ART_MIB << 20)) /dev/urandom > artifact
  { gen_lines "$LINES"; "$SL" hash artifact; } | "$SL" receive --log log --name bench --sync end > /dev/null
  "$SL" seal --log log --key key.asc --origin "$ORIGIN" --note-key note.key > /dev/null
  first=$(ls log/checkpoints | grep -v asc | sort -n | tail -1)
  gen_lines 998 | "$SL" receive --log log --name bench --sync end > /dev/null
  "$SL" seal --log log --key key.asc --origin "$ORIGIN" --note-key note.key > /dev/null
  second=$(ls log/checkpoints | grep -v asc | sort -n | tail -1)
  # The witness holds the first checkpoint; the request takes it to the second.
  { echo "old 0"; echo; cat "log/checkpoints/$first"; } |
    "$SL" witness -q --key w.key --log-key "$(cat note.vkey)" --state state > /dev/null
  cp -r state state.first
  { echo "old $first"
    "$SL" prove consistency --log log "$first" "$second" | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["proof"]))'
    echo; cat "log/checkpoints/$second"; } > request
  # The checkpoint's text and its Ed25519 signature, for openssl.
  python3 - "$second" "$(cat note.vkey)" <<'EOF'
import base64, sys
note = open("log/checkpoints/" + sys.argv[1], "rb").read()
text, sigs = note.split(b"\n\n", 1)
open("text", "wb").write(text + b"\n")
line = sigs.split(b"\n")[0]
open("sig", "wb").write(base64.b64decode(line.rsplit(b" ", 1)[1])[4:])
raw = base64.b64decode(sys.argv[2].split("+", 2)[2])[1:]
der = bytes.fromhex("302a300506032b6570032100") + raw
open("pub.pem", "w").write("-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(der).decode() + "\n-----END PUBLIC KEY-----\n")
EOF
  # Cosigned by the witness, then the proof of the artifact.
  "$SL" witness -q --key w.key --log-key "$(cat note.vkey)" --state state < request |
    sed '1,/^\r$/d' > lines
  "$SL" add-cosignature --log log --witness "$(cat w.vkey)" lines > /dev/null
  mkdir -p proofs
  "$SL" prove product --log log --file artifact --tlog-proof proofs > /dev/null
  echo "$first $second" > ready
fi
read -r first second < ready
echo "sign-log witness/verify-proof bench: a log of $second records, $WREPS/$REPS runs, medians; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

# CPU seconds (user + system) of each of N runs of a command, the
# witness's state put back first; the kernel's accounting of the child.
python3 - "$WREPS" "$SL" "$(cat note.vkey)" <<'EOF'
import os, resource, shutil, statistics, subprocess, sys
reps, sl, vkey = int(sys.argv[1]), sys.argv[2], sys.argv[3]
body = open("request", "rb").read()
def cpu(cmd, stdin=None, before=None, expect=b""):
    out = []
    for _ in range(reps):
        if before:
            before()
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode != 0 or not p.stdout.startswith(expect):
            sys.exit(f"failed: {cmd} ({p.returncode}) {p.stdout[:200]!r}")
        out.append((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))
    return statistics.median(out) * 1000
def reset():
    shutil.rmtree("state", ignore_errors=True)
    shutil.copytree("state.first", "state")
w = cpu([sl, "witness", "-q", "--key", "w.key", "--log-key", vkey, "--state", "state"], body, reset, b"Status: 200 OK")
o = cpu(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "text", "-sigfile", "sig"])
t = cpu(["/bin/true"])
nodes = body.split(b"\n\n")[0].count(b"\n")
print(f"witness add-checkpoint, {nodes} proof lines: {w:.2f} ms CPU (target < 5 ms)")
print(f"openssl pkeyutl -verify (one Ed25519 check): {o:.2f} ms CPU; witness / openssl = {w / o:.2f}x")
print(f"/bin/true: {t:.2f} ms CPU")
EOF

proof=proofs/artifact.tlog-proof
cat artifact > /dev/null
rounds \
  verify="$SL verify-proof $proof --artifact artifact --note-key $(cat note.vkey) --witness $(cat w.vkey)" \
  openssl="openssl dgst -sha256 artifact"
echo "verify-proof of a .tlog-proof, ${ART_MIB} MiB artifact: ${T_verify} s; openssl dgst -sha256: ${T_openssl} s; verify-proof / openssl = $(ratio "$T_verify" "$T_openssl")x (target <= 1.5x)"
