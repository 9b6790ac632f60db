// Interoperability oracle for sign-log, built against Go's
// golang.org/x/mod/sumdb/note and sumdb/tlog (Debian's
// golang-golang-x-mod-dev, GOPATH mode: nothing is downloaded).
//
//	interop check MANIFEST.json   verify what sign-log wrote
//	interop tiles MANIFEST.json   read sign-log's published tlog-tiles
//	interop genkey NAME           print a new note key: skey, then vkey
//	interop witness MANIFEST.json check a witness's cosignatures and tlog-proofs
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
//
// witness checks what `sign-log witness` answered and `prove product
// --tlog-proof` wrote: each cosigned checkpoint opens with note.Open given
// the log's verifier (note.NewVerifier) and the witnesses' (the
// cosignature/v1 adapter below: sumdb/note's own NewVerifier refuses
// type 0x04 keys, checked too), and fails with a cosignature byte flipped;
// each tlog-proof's checkpoint opens the same way and its record, from the
// extra line, is proved in the tree by tlog.CheckRecord.
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

// tiles reads a log sign-log published as c2sp.org/tlog-tiles with Go's
// tile hash reader only: every checkpoint's note opens with the log key,
// its tree hash computed from our tiles (tlog.TileHashReader checks each
// tile it reads against the tree) is its root, every record proof
// (tlog.ProveRecord) checks against the record read from our entry
// bundles, and every tree proof (tlog.ProveTree) between two checkpoints
// checks. The proofs are written to the manifest's "out" for the Rust
// side to compare with its own.
type tilesManifest struct {
	WWW         string   `json:"www"`
	LogVkey     string   `json:"log_vkey"`
	Checkpoints []string `json:"checkpoints"`
	Records     []int64  `json:"records"`
	Out         string   `json:"out"`
}

type dirTiles struct{ root string }

func (d dirTiles) Height() int { return 8 }

// Go's tile paths carry the height (tile/8/L/N); tlog-tiles' do not.
func (d dirTiles) path(t tlog.Tile) string {
	p := t.Path()
	if t.L == -1 {
		return strings.Replace(p, "tile/8/data/", "tile/entries/", 1)
	}
	return strings.Replace(p, "tile/8/", "tile/", 1)
}

func (d dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := os.ReadFile(d.root + "/" + d.path(t))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (d dirTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// The entry at index in a tree of size, from its bundle.
func (d dirTiles) entry(size, index int64) []byte {
	n := index / 256
	w := size - n*256
	if w > 256 {
		w = 256
	}
	t := tlog.Tile{H: 8, L: -1, N: n, W: int(w)}
	b, err := os.ReadFile(d.root + "/" + d.path(t))
	if err != nil {
		fail("%v", err)
	}
	for i := int64(0); ; i++ {
		if len(b) < 2 {
			fail("%s: no entry %d", d.path(t), index)
		}
		l := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+l {
			fail("%s: entry %d cut short", d.path(t), i)
		}
		if i == index%256 {
			return b[2 : 2+l]
		}
		b = b[2+l:]
	}
}

func b64s(p []tlog.Hash) []string {
	out := make([]string, len(p))
	for i, h := range p {
		out[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return out
}

func tiles(path string) {
	var m tilesManifest
	readJSON(path, &m)
	v, err := note.NewVerifier(m.LogVkey)
	if err != nil {
		fail("log key: %v", err)
	}
	d := dirTiles{m.WWW}
	type tree struct {
		size int64
		hash tlog.Hash
	}
	var trees []tree
	for _, cp := range m.Checkpoints {
		msg, err := os.ReadFile(cp)
		if err != nil {
			fail("%v", err)
		}
		n, err := note.Open(msg, note.VerifierList(v))
		if err != nil {
			fail("%s: note.Open: %v", cp, err)
		}
		lines := strings.SplitN(n.Text, "\n", 4)
		size, err := strconv.ParseInt(lines[1], 10, 64)
		if err != nil {
			fail("%s: size", cp)
		}
		root, err := tlog.ParseHash(lines[2])
		if err != nil {
			fail("%s: root", cp)
		}
		trees = append(trees, tree{size, root})
	}
	type recordProof struct {
		Size  int64    `json:"size"`
		Index int64    `json:"index"`
		Proof []string `json:"proof"`
	}
	type treeProof struct {
		Size1 int64    `json:"size1"`
		Size2 int64    `json:"size2"`
		Proof []string `json:"proof"`
	}
	var result struct {
		Records []recordProof `json:"records"`
		Trees   []treeProof   `json:"trees"`
	}
	for i, t := range trees {
		hr := tlog.TileHashReader(tlog.Tree{N: t.size, Hash: t.hash}, d)
		th, err := tlog.TreeHash(t.size, hr)
		if err != nil || th != t.hash {
			fail("tree %d: TreeHash from the tiles: %v %v, want %v", t.size, err, th, t.hash)
		}
		fmt.Printf("ok tree %d: the tiles hash to the checkpoint's root\n", t.size)
		for _, idx := range m.Records {
			if idx >= t.size {
				continue
			}
			p, err := tlog.ProveRecord(t.size, idx, hr)
			if err != nil {
				fail("tree %d record %d: ProveRecord: %v", t.size, idx, err)
			}
			leaf := tlog.RecordHash(d.entry(t.size, idx))
			if err := tlog.CheckRecord(p, t.size, t.hash, idx, leaf); err != nil {
				fail("tree %d record %d: CheckRecord: %v", t.size, idx, err)
			}
			if len(p) > 0 && tlog.CheckRecord(flipped(p), t.size, t.hash, idx, leaf) == nil {
				fail("tree %d record %d: a flipped proof still checks", t.size, idx)
			}
			result.Records = append(result.Records, recordProof{t.size, idx, b64s(p)})
		}
		fmt.Printf("ok tree %d: record proofs from the tiles check against the bundles' entries\n", t.size)
		for _, old := range trees[:i] {
			p, err := tlog.ProveTree(t.size, old.size, hr)
			if err != nil {
				fail("tree %d -> %d: ProveTree: %v", old.size, t.size, err)
			}
			if err := tlog.CheckTree(p, t.size, t.hash, old.size, old.hash); err != nil {
				fail("tree %d -> %d: CheckTree: %v", old.size, t.size, err)
			}
			result.Trees = append(result.Trees, treeProof{old.size, t.size, b64s(p)})
			fmt.Printf("ok tree proof %d -> %d\n", old.size, t.size)
		}
	}
	out, _ := json.Marshal(result)
	if err := os.WriteFile(m.Out, out, 0o644); err != nil {
		fail("%v", err)
	}
}

type witnessManifest struct {
	LogVkey    string   `json:"log_vkey"`
	Cosigners  []string `json:"cosigners"`
	Notes      []string `json:"notes"`
	TlogProofs []string `json:"tlog_proofs"`
	Sha256     string   `json:"sha256"`
}

// open verifies a note with the log's and the cosigners' verifiers and
// returns the names that signed it.
func open(msg []byte, m witnessManifest) (*note.Note, map[string]bool) {
	logV, err := note.NewVerifier(m.LogVkey)
	if err != nil {
		fail("log vkey: %v", err)
	}
	vs := []note.Verifier{logV}
	for _, c := range m.Cosigners {
		vs = append(vs, newCosigVerifier(c))
	}
	n, err := note.Open(msg, note.VerifierList(vs...))
	if err != nil {
		fail("note.Open: %v\n%s", err, msg)
	}
	names := map[string]bool{}
	for _, s := range n.Sigs {
		names[s.Name] = true
	}
	if !names[logV.Name()] {
		fail("no signature by the log %s", logV.Name())
	}
	for _, c := range m.Cosigners {
		if !names[newCosigVerifier(c).name] {
			fail("no cosignature by %s", newCosigVerifier(c).name)
		}
	}
	return n, names
}

// flipCosig flips a bit in the signature of the last line (a cosignature).
func flipCosig(msg []byte) []byte {
	lines := strings.Split(strings.TrimSuffix(string(msg), "\n"), "\n")
	last := lines[len(lines)-1]
	sp := strings.LastIndex(last, " ")
	raw, err := base64.StdEncoding.DecodeString(last[sp+1:])
	if err != nil || len(raw) < 20 {
		fail("the last line is no signature: %q", last)
	}
	raw[len(raw)-5] ^= 1
	lines[len(lines)-1] = last[:sp+1] + base64.StdEncoding.EncodeToString(raw)
	return []byte(strings.Join(lines, "\n") + "\n")
}

func witness(path string) {
	var m witnessManifest
	readJSON(path, &m)
	for _, c := range m.Cosigners {
		// Where the formats differ: sumdb/note knows Ed25519 (type 0x01)
		// signatures only, so a cosignature key is not one of its keys.
		if _, err := note.NewVerifier(c); err == nil {
			fail("sumdb/note's NewVerifier took a cosignature key %s", c)
		}
	}
	fmt.Println("ok sumdb/note's own NewVerifier refuses cosignature (type 0x04) keys")
	for _, p := range m.Notes {
		msg, err := os.ReadFile(p)
		if err != nil {
			fail("%v", err)
		}
		open(msg, m)
		if _, err := note.Open(flipCosig(msg), note.VerifierList(newCosigVerifier(m.Cosigners[0]))); err == nil {
			fail("%s: a flipped cosignature still opens", p)
		}
		fmt.Printf("ok %s: the log's signature and every cosignature verify\n", p)
	}
	for _, p := range m.TlogProofs {
		b, err := os.ReadFile(p)
		if err != nil {
			fail("%v", err)
		}
		head, cp, ok := strings.Cut(string(b), "\n\n")
		if !ok {
			fail("%s: no blank line", p)
		}
		lines := strings.Split(head, "\n")
		if lines[0] != "c2sp.org/tlog-proof@v1" || !strings.HasPrefix(lines[1], "extra ") || !strings.HasPrefix(lines[2], "index ") {
			fail("%s: not a tlog-proof with an extra line", p)
		}
		record, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[1], "extra "))
		if err != nil {
			fail("%s: extra: %v", p, err)
		}
		index, err := strconv.ParseInt(strings.TrimPrefix(lines[2], "index "), 10, 64)
		if err != nil {
			fail("%s: index: %v", p, err)
		}
		var rp tlog.RecordProof
		for _, l := range lines[3:] {
			h, err := tlog.ParseHash(l)
			if err != nil {
				fail("%s: proof line %q: %v", p, l, err)
			}
			rp = append(rp, h)
		}
		n, _ := open([]byte(cp), m)
		body := strings.Split(n.Text, "\n")
		size, err := strconv.ParseInt(body[1], 10, 64)
		root, err2 := tlog.ParseHash(body[2])
		if err != nil || err2 != nil {
			fail("%s: checkpoint body %q", p, n.Text)
		}
		leaf := tlog.RecordHash(record)
		if err := tlog.CheckRecord(rp, size, root, index, leaf); err != nil {
			fail("%s: CheckRecord: %v", p, err)
		}
		if len(rp) > 0 && tlog.CheckRecord(flipped(rp), size, root, index, leaf) == nil {
			fail("%s: a flipped proof still checks", p)
		}
		if !bytes.Contains(record, []byte(m.Sha256)) {
			fail("%s: the record is not the product's: %s", p, record)
		}
		fmt.Printf("ok %s: record %d in the tree of %d, cosigned, checks with tlog.CheckRecord\n", p, index, size)
	}
}

func main() {
	switch {
	case len(os.Args) == 3 && os.Args[1] == "witness":
		witness(os.Args[2])
	case len(os.Args) == 3 && os.Args[1] == "check":
		check(os.Args[2])
	case len(os.Args) == 3 && os.Args[1] == "tiles":
		tiles(os.Args[2])
	case len(os.Args) == 3 && os.Args[1] == "genkey":
		skey, vkey, err := note.GenerateKey(rand.Reader, os.Args[2])
		if err != nil {
			fail("%v", err)
		}
		fmt.Println(skey)
		fmt.Println(vkey)
	default:
		fail("usage: interop check|tiles|witness MANIFEST.json | interop genkey NAME")
	}
}
