// tlogcheck: an independent check of the one-seal issuance log with Go's golang.org/x/mod/sumdb/{note,tlog}.
//
// Usage: tlogcheck DIR VKEY < proofs.json
//
// DIR is a `seal-service log export` directory (checkpoint, tile/...). The program
//  1. opens DIR/checkpoint with sumdb/note and the log's verifier key (Ed25519 signed note);
//  2. reads the tree through tlog.TileHashReader, which authenticates every tile it reads against the signed
//     root (C2SP tlog-tiles paths are sumdb's without the height element: tile/8/0/x001 -> tile/0/x001);
//  3. hashes every entry of the entry bundles and proves each one with tlog.ProveRecord/CheckRecord;
//  4. checks the inclusion and consistency proofs the Python service produced (stdin JSON) with CheckRecord and
//     CheckTree, and that Go's own proofs are byte-for-byte the same.
// It prints one JSON object and exits 1 on the first failure.
package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/ioutil"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type inclusion struct {
	Index    int64    `json:"index"`
	LeafHash string   `json:"leaf_hash"`
	Proof    []string `json:"proof"`
}

type consistency struct {
	Old     int64    `json:"old"`
	OldRoot string   `json:"old_root"`
	Proof   []string `json:"proof"`
}

type request struct {
	Inclusion   []inclusion   `json:"inclusion"`
	Consistency []consistency `json:"consistency"`
}

type fileTiles struct{ dir string }

func (f fileTiles) Height() int { return 8 }

func (f fileTiles) path(t tlog.Tile) string {
	p := strings.Replace(t.Path(), "tile/8/", "tile/", 1)
	return strings.Replace(p, "tile/data/", "tile/entries/", 1)
}

func (f fileTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := ioutil.ReadFile(filepath.Join(f.dir, f.path(t)))
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (f fileTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func fail(format string, args ...interface{}) {
	msg, _ := json.Marshal(map[string]string{"error": fmt.Sprintf(format, args...)})
	fmt.Println(string(msg))
	os.Exit(1)
}

func hashOf(s string) tlog.Hash {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != tlog.HashSize {
		fail("bad hash %q", s)
	}
	var h tlog.Hash
	copy(h[:], raw)
	return h
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: tlogcheck DIR VKEY < proofs.json")
	}
	dir, vkey := os.Args[1], os.Args[2]
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	msg, err := ioutil.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		fail("checkpoint: %v", err)
	}
	// (1) the signed note.
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fail("note.Open: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != verifier.Name() {
		fail("checkpoint origin %q is not the key name %q", lines[0], verifier.Name())
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint size: %v", err)
	}
	tree := tlog.Tree{N: size, Hash: hashOf(lines[2])}
	// (2) tiles authenticated against the signed root.
	tiles := fileTiles{dir}
	reader := tlog.TileHashReader(tree, tiles)
	root, err := tlog.TreeHash(size, reader)
	if err != nil {
		fail("TreeHash from tiles: %v", err)
	}
	if root != tree.Hash {
		fail("root from tiles %v != checkpoint root %v", root, tree.Hash)
	}
	// (3) every entry.
	entries := int64(0)
	for start := int64(0); start < size; start += 256 {
		w := size - start
		if w > 256 {
			w = 256
		}
		t := tlog.Tile{H: 8, L: -1, N: start / 256, W: int(w)}
		data, err := tiles.ReadTiles([]tlog.Tile{t})
		if err != nil {
			fail("entry bundle %s: %v", tiles.path(t), err)
		}
		buf := data[0]
		for i := int64(0); i < w; i++ {
			if len(buf) < 2 {
				fail("entry bundle %s truncated", tiles.path(t))
			}
			l := int(binary.BigEndian.Uint16(buf))
			entry := buf[2 : 2+l]
			buf = buf[2+l:]
			index := start + i
			proof, err := tlog.ProveRecord(size, index, reader)
			if err != nil {
				fail("ProveRecord(%d): %v", index, err)
			}
			if err := tlog.CheckRecord(proof, size, tree.Hash, index, tlog.RecordHash(entry)); err != nil {
				fail("entry %d: %v", index, err)
			}
			entries++
		}
		if len(buf) != 0 {
			fail("entry bundle %s has trailing bytes", tiles.path(t))
		}
	}
	// (4) the service's proofs.
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fail("proofs JSON: %v", err)
	}
	for _, inc := range req.Inclusion {
		var proof tlog.RecordProof
		for _, p := range inc.Proof {
			proof = append(proof, hashOf(p))
		}
		if err := tlog.CheckRecord(proof, size, tree.Hash, inc.Index, hashOf(inc.LeafHash)); err != nil {
			fail("inclusion proof of entry %d: %v", inc.Index, err)
		}
		own, err := tlog.ProveRecord(size, inc.Index, reader)
		if err != nil || fmt.Sprint(own) != fmt.Sprint(proof) {
			fail("inclusion proof of entry %d differs from Go's", inc.Index)
		}
	}
	for _, c := range req.Consistency {
		var proof tlog.TreeProof
		for _, p := range c.Proof {
			proof = append(proof, hashOf(p))
		}
		if err := tlog.CheckTree(proof, size, tree.Hash, c.Old, hashOf(c.OldRoot)); err != nil {
			fail("consistency proof from %d: %v", c.Old, err)
		}
		own, err := tlog.ProveTree(size, c.Old, reader)
		if err != nil || fmt.Sprint(own) != fmt.Sprint(proof) {
			fail("consistency proof from %d differs from Go's", c.Old)
		}
	}
	out, _ := json.Marshal(map[string]interface{}{
		"ok": true, "origin": lines[0], "size": size, "entries": entries,
		"inclusion": len(req.Inclusion), "consistency": len(req.Consistency),
	})
	fmt.Println(string(out))
}
