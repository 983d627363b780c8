// accordcheck verifies Accord's checkpoints, proofs and tiles with Go's
// golang.org/x/mod/sumdb/note and sumdb/tlog, an implementation independent of Accord.
//
// Usage: accordcheck input.json
// The input names the log's verifier key, a signed checkpoint, optional inclusion and
// consistency proofs, and optionally a C2SP tile directory. It prints "ok" and exits 0
// only if every check passes.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
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

type input struct {
	VerifierKey string        `json:"vkey"`
	Checkpoint  string        `json:"checkpoint"`
	Tiles       string        `json:"tiles"`
	Inclusion   []inclusion   `json:"inclusion"`
	Consistency []consistency `json:"consistency"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "accordcheck: "+format+"\n", args...)
	os.Exit(1)
}

func hash(b64 string) tlog.Hash {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != tlog.HashSize {
		fail("bad hash %q", b64)
	}
	var h tlog.Hash
	copy(h[:], raw)
	return h
}

func hashes(list []string) []tlog.Hash {
	out := make([]tlog.Hash, len(list))
	for i, s := range list {
		out[i] = hash(s)
	}
	return out
}

// dirTiles reads C2SP tlog-tiles paths (tile/<L>/<N>[.p/<W>]) from a directory.
type dirTiles struct{ root string }

func (d dirTiles) Height() int { return 8 }

func indexPath(n int64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n /= 1000; n > 0; n /= 1000 {
		s = fmt.Sprintf("x%03d/", n%1000) + s
	}
	return s
}

func (d dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		p := filepath.Join(d.root, "tile", strconv.Itoa(t.L), indexPath(t.N))
		if t.W < 256 {
			p += ".p/" + strconv.Itoa(t.W)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (d dirTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func main() {
	if len(os.Args) != 2 {
		fail("usage: accordcheck input.json")
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	var in input
	if err := json.Unmarshal(raw, &in); err != nil {
		fail("bad input: %v", err)
	}
	verifier, err := note.NewVerifier(in.VerifierKey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	n, err := note.Open([]byte(in.Checkpoint), note.VerifierList(verifier))
	if err != nil {
		fail("note.Open: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		fail("checkpoint body too short")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint size: %v", err)
	}
	root := hash(lines[2])
	for _, c := range in.Inclusion {
		if err := tlog.CheckRecord(hashes(c.Proof), size, root, c.Index, hash(c.LeafHash)); err != nil {
			fail("CheckRecord(%d, %d): %v", c.Index, size, err)
		}
	}
	for _, c := range in.Consistency {
		if err := tlog.CheckTree(hashes(c.Proof), size, root, c.Old, hash(c.OldRoot)); err != nil {
			fail("CheckTree(%d, %d): %v", c.Old, size, err)
		}
	}
	checked := 0
	if in.Tiles != "" {
		reader := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, dirTiles{in.Tiles})
		th, err := tlog.TreeHash(size, reader)
		if err != nil || th != root {
			fail("TreeHash from tiles: %v", err)
		}
		for i := int64(0); i < size; i += 1 + size/97 {
			p, err := tlog.ProveRecord(size, i, reader)
			if err != nil {
				fail("ProveRecord(%d): %v", i, err)
			}
			leaf, err := reader.ReadHashes([]int64{tlog.StoredHashIndex(0, i)})
			if err != nil {
				fail("leaf %d: %v", i, err)
			}
			if err := tlog.CheckRecord(p, size, root, i, leaf[0]); err != nil {
				fail("CheckRecord from tiles (%d): %v", i, err)
			}
			checked++
		}
	}
	fmt.Printf("ok origin=%s size=%d inclusion=%d consistency=%d tile_proofs=%d\n",
		lines[0], size, len(in.Inclusion), len(in.Consistency), checked)
}
