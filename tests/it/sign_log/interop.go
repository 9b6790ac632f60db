// Interoperability oracle for sign-log, built against Go's
// golang.org/x/mod/sumdb/note and sumdb/tlog (Debian's
// golang-golang-x-mod-dev, GOPATH mode: nothing is downloaded).
//
//	interop check MANIFEST.json   verify what sign-log wrote
//	interop genkey NAME           print a new note key: skey, then vkey
//
// check reads the manifest the Rust test writes and verifies, with Go's
// implementations only: every checkpoint note (the log's Ed25519 line with
// note.Open, witness cosignatures with a tlog-cosignature verifier plugged
// into note.Open), every checkpoint root against the tree Go's tlog
// computes from the log's records, every inclusion proof (tlog.CheckRecord)
// and consistency proof (tlog.CheckTree), and that sign-log's own keys
// load in note.NewSigner/NewVerifier. Each proof is also checked to fail
// with one bit flipped, so the oracle cannot pass by accepting anything.
// It prints one "ok" line per check and exits 1 at the first failure.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type manifest struct {
	Log         string   `json:"log"`
	LogVkey     string   `json:"log_vkey"`
	Cosigners   []string `json:"cosigners"`
	Checkpoints []string `json:"checkpoints"`
	Inclusion   []string `json:"inclusion"`
	Consistency []string `json:"consistency"`
	// Keys made by `sign-log keygen` (type 1): skey and vkey.
	Keys [][2]string `json:"keys"`
}

type proof struct {
	Type      string   `json:"type"`
	LeafIndex int64    `json:"leaf_index"`
	TreeSize  int64    `json:"tree_size"`
	Leaf      string   `json:"leaf"`
	Size1     int64    `json:"size1"`
	Size2     int64    `json:"size2"`
	Proof     []string `json:"proof"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "interop: "+format+"\n", args...)
	os.Exit(1)
}

// A c2sp.org/tlog-cosignature/v1 (type 0x04) verifier for note.Open.
type cosigVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (v cosigVerifier) Name() string    { return v.name }
func (v cosigVerifier) KeyHash() uint32 { return v.hash }
func (v cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	signed := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), msg...)
	return ed25519.Verify(v.key, signed, sig[8:])
}

func newCosigVerifier(vkey string) cosigVerifier {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		fail("cosigner key %q: not NAME+HASH+KEY", vkey)
	}
	hash, err := strconv.ParseUint(parts[1], 16, 32)
	key, err2 := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || err2 != nil || len(key) != 33 || key[0] != 0x04 {
		fail("cosigner key %q: malformed", vkey)
	}
	// SHA-256(name || "\n" || 0x04 || key)[:4], as the spec defines it.
	h := sha256.Sum256(append([]byte(parts[0]+"\n"), key...))
	if binary.BigEndian.Uint32(h[:4]) != uint32(hash) {
		fail("cosigner key %q: key hash does not match", vkey)
	}
	return cosigVerifier{parts[0], uint32(hash), ed25519.PublicKey(key[1:])}
}

func readJSON(path string, v interface{}) {
	b, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		fail("%s: %v", path, err)
	}
}

func hashes(list []string) []tlog.Hash {
	out := make([]tlog.Hash, len(list))
	for i, s := range list {
		h, err := tlog.ParseHash(s)
		if err != nil {
			fail("proof hash %q: %v", s, err)
		}
		out[i] = h
	}
	return out
}

func flipped(p []tlog.Hash) []tlog.Hash {
	q := append([]tlog.Hash(nil), p...)
	q[0][0] ^= 1
	return q
}

func check(path string) {
	var m manifest
	readJSON(path, &m)

	// The tree over the log's records, by Go's tlog.
	data, err := os.ReadFile(m.Log)
	if err != nil {
		fail("%v", err)
	}
	records := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x < 0 || x >= int64(len(stored)) {
				return nil, fmt.Errorf("no stored hash %d", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, rec := range records {
		h, err := tlog.StoredHashes(int64(i), rec, reader)
		if err != nil {
			fail("record %d: %v", i, err)
		}
		stored = append(stored, h...)
	}
	treeHash := func(n int64) tlog.Hash {
		th, err := tlog.TreeHash(n, reader)
		if err != nil {
			fail("tree hash %d: %v", n, err)
		}
		return th
	}

	logVerifier, err := note.NewVerifier(m.LogVkey)
	if err != nil {
		fail("log key %q: %v", m.LogVkey, err)
	}
	verifiers := []note.Verifier{logVerifier}
	for _, c := range m.Cosigners {
		verifiers = append(verifiers, newCosigVerifier(c))
	}
	for _, cpPath := range m.Checkpoints {
		msg, err := os.ReadFile(cpPath)
		if err != nil {
			fail("%v", err)
		}
		n, err := note.Open(msg, note.VerifierList(verifiers...))
		if err != nil {
			fail("%s: note.Open: %v", cpPath, err)
		}
		if len(n.Sigs) != len(verifiers) {
			fail("%s: %d of %d known signatures verified", cpPath, len(n.Sigs), len(verifiers))
		}
		lines := strings.SplitN(n.Text, "\n", 4)
		if len(lines) < 4 {
			fail("%s: not a checkpoint", cpPath)
		}
		size, err := strconv.ParseInt(lines[1], 10, 64)
		if err != nil {
			fail("%s: size %q", cpPath, lines[1])
		}
		root, err := tlog.ParseHash(lines[2])
		if err != nil {
			fail("%s: root %q", cpPath, lines[2])
		}
		if th := treeHash(size); th != root {
			fail("%s: root %v, Go's tlog computes %v", cpPath, root, th)
		}
		// A note whose text changed no longer opens.
		forged := bytes.Replace(msg, []byte(lines[1]+"\n"), []byte(strconv.FormatInt(size+1, 10)+"\n"), 1)
		if _, err := note.Open(forged, note.VerifierList(verifiers...)); err == nil {
			fail("%s: a changed note still opens", cpPath)
		}
		fmt.Printf("ok checkpoint %s size %d: %d signatures verified, root matches\n", cpPath, size, len(n.Sigs))
	}

	for _, p := range m.Inclusion {
		var pr proof
		readJSON(p, &pr)
		th := treeHash(pr.TreeSize)
		hs := hashes(pr.Proof)
		leaf := tlog.RecordHash([]byte(pr.Leaf))
		if err := tlog.CheckRecord(hs, pr.TreeSize, th, pr.LeafIndex, leaf); err != nil {
			fail("%s: CheckRecord: %v", p, err)
		}
		if !bytes.Equal([]byte(pr.Leaf), records[pr.LeafIndex]) {
			fail("%s: the leaf is not record %d", p, pr.LeafIndex)
		}
		if len(hs) > 0 && tlog.CheckRecord(flipped(hs), pr.TreeSize, th, pr.LeafIndex, leaf) == nil {
			fail("%s: a flipped proof still checks", p)
		}
		fmt.Printf("ok inclusion of record %d in %d\n", pr.LeafIndex, pr.TreeSize)
	}
	for _, p := range m.Consistency {
		var pr proof
		readJSON(p, &pr)
		th1, th2 := treeHash(pr.Size1), treeHash(pr.Size2)
		hs := hashes(pr.Proof)
		if err := tlog.CheckTree(hs, pr.Size2, th2, pr.Size1, th1); err != nil {
			fail("%s: CheckTree: %v", p, err)
		}
		if len(hs) > 0 && tlog.CheckTree(flipped(hs), pr.Size2, th2, pr.Size1, th1) == nil {
			fail("%s: a flipped proof still checks", p)
		}
		fmt.Printf("ok consistency %d -> %d\n", pr.Size1, pr.Size2)
	}
	for _, k := range m.Keys {
		s, err := note.NewSigner(k[0])
		if err != nil {
			fail("sign-log's secret key: note.NewSigner: %v", err)
		}
		v, err := note.NewVerifier(k[1])
		if err != nil {
			fail("sign-log's verifier key: note.NewVerifier: %v", err)
		}
		msg, err := note.Sign(&note.Note{Text: "interop\n"}, s)
		if err != nil {
			fail("note.Sign: %v", err)
		}
		if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
			fail("sign-log's key pair does not round-trip in Go: %v", err)
		}
		fmt.Printf("ok keys %s\n", v.Name())
	}
}

func main() {
	switch {
	case len(os.Args) == 3 && os.Args[1] == "check":
		check(os.Args[2])
	case len(os.Args) == 3 && os.Args[1] == "genkey":
		skey, vkey, err := note.GenerateKey(rand.Reader, os.Args[2])
		if err != nil {
			fail("%v", err)
		}
		fmt.Println(skey)
		fmt.Println(vkey)
	default:
		fail("usage: interop check MANIFEST.json | interop genkey NAME")
	}
}
