package ari

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callstatus/callstatus/mapping"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden files")

// lineResult is what one recorded line became.
type lineResult struct {
	line    int
	typ     string // ARI type, "" when unreadable
	events  []mapping.Event
	unknown bool  // a type ari/v6 does not know
	err     error // undecodable
}

// translateFile runs every line of an .ari.jsonl recording through Decode,
// the way Source does.
func translateFile(t *testing.T, path string) []lineResult {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []lineResult
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for n := 1; sc.Scan(); n++ {
		data := bytes.TrimSpace(sc.Bytes())
		if len(data) == 0 {
			continue
		}
		r := lineResult{line: n}
		msg, err := Decode(data, uint64(n))
		r.typ, r.events = msg.Type, msg.Events
		switch {
		case errors.Is(err, ErrUnknownType):
			r.unknown = true
		case err != nil:
			r.err = err
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out
}

// describe renders an event on one line for golden files.
func describe(e mapping.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s %s", e.Seq, e.Time.Format("15:04:05.000"), e.Kind)
	ch := func(label string, c mapping.Channel) {
		if c == (mapping.Channel{}) {
			return
		}
		fmt.Fprintf(&b, " %s=%s", label, c.UniqueID)
		for _, kv := range [][2]string{
			{"linkedid", c.LinkedID}, {"name", c.Name}, {"state", c.State},
			{"cid", c.CallerNum}, {"cidname", c.CallerName},
			{"conn", c.ConnectedNum}, {"connname", c.ConnectedName},
			{"at", c.Context + "," + c.Exten},
		} {
			if kv[1] != "" && kv[1] != "," {
				fmt.Fprintf(&b, " %s.%s=%q", label, kv[0], kv[1])
			}
		}
	}
	ch("chan", e.Chan)
	ch("peer", e.Peer)
	for _, kv := range [][2]string{
		{"name", e.Name}, {"value", e.Value}, {"status", e.Status},
		{"bridge", e.Bridge}, {"causetxt", e.CauseText},
	} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%q", kv[0], kv[1])
		}
	}
	if e.Count != 0 {
		fmt.Fprintf(&b, " count=%d", e.Count)
	}
	if e.Cause != 0 {
		fmt.Fprintf(&b, " cause=%d", e.Cause)
	}
	if len(e.Linked) > 0 {
		fmt.Fprintf(&b, " linked=%s", strings.Join(e.Linked, ","))
	}
	return b.String()
}

// TestGolden translates each testdata/*.ari.jsonl recording and compares
// the result with its .golden file (go test -run TestGolden -update).
// A new scenario is two files, not new code.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.ari.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no recordings in testdata (%v)", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			var b strings.Builder
			for _, r := range translateFile(t, path) {
				switch {
				case r.err != nil:
					fmt.Fprintf(&b, "%d undecodable type=%q\n", r.line, r.typ)
				case r.unknown:
					fmt.Fprintf(&b, "%d unknown type=%q\n", r.line, r.typ)
				}
				for _, e := range r.events {
					b.WriteString(describe(e))
					b.WriteByte('\n')
				}
			}
			golden := strings.TrimSuffix(path, ".ari.jsonl") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("%s differs from %s (rerun with -update and review the diff):\n%s", path, golden, firstDiff(got, string(want)))
			}
		})
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got %s\nwant %s", i+1, gl, wl)
		}
	}
	return ""
}

// alwaysTranslated lists the ARI types that carry a channel every time and
// so must always become a mapping event.
var alwaysTranslated = map[string]bool{
	"ChannelCreated": true, "ChannelStateChange": true, "ChannelDestroyed": true,
	"ChannelHangupRequest": true, "ChannelEnteredBridge": true, "ChannelLeftBridge": true,
	"BridgeBlindTransfer": true, "BridgeAttendedTransfer": true, "ChannelUserevent": true,
}

// TestRecordings reads every ARI recording the lab made
// (../testdata/recordings/*.ari.jsonl): every line must decode, and the
// log reports how much translates and whether channelvars carried the
// linkedid.
func TestRecordings(t *testing.T) {
	files, err := filepath.Glob("../testdata/recordings/*.ari.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Log("no recordings under ../testdata/recordings yet")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			var lines, translated, unknown, chans, linked int
			skipped := map[string]int{}
			for _, r := range translateFile(t, path) {
				lines++
				switch {
				case r.err != nil:
					t.Errorf("line %d (type %q): %v", r.line, r.typ, r.err)
				case r.unknown:
					unknown++
					skipped[r.typ]++
				case len(r.events) == 0 && alwaysTranslated[r.typ]:
					t.Errorf("line %d: %s translated to nothing", r.line, r.typ)
				case len(r.events) == 0:
					skipped[r.typ]++
				default:
					translated++
				}
				for _, e := range r.events {
					if e.Chan.Name == "" { // playback: id only, no channel object
						continue
					}
					chans++
					if e.Chan.LinkedID != "" {
						linked++
					}
				}
			}
			t.Logf("%d lines, %d translated (%.0f%%), %d of unknown type; %d/%d channel objects carried CHANNEL(linkedid); skipped by type: %v",
				lines, translated, 100*float64(translated)/float64(max(lines, 1)), unknown, linked, chans, skipped)
			if chans > 0 && linked == 0 {
				t.Errorf("no channel carried %s: is channelvars set in ari.conf?", LinkedIDVar)
			}
		})
	}
}
