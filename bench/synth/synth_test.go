package synth

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callstatus/callstatus/lab/labrules"
	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/replay"
)

const recordings = "../../testdata/recordings"

func load(t *testing.T) []*Recording {
	t.Helper()
	recs, err := LoadDir(recordings)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < 20 {
		t.Fatalf("%d recordings, want every lab scenario", len(recs))
	}
	return recs
}

// goldenOutcomes counts category/status over every golden file, the
// answer the multiplied stream must give once per copy.
func goldenOutcomes(t *testing.T) map[string]int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(recordings, "*.golden.jsonl"))
	out := map[string]int{}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var cs mapping.CallStatus
			if err := json.Unmarshal(sc.Bytes(), &cs); err != nil {
				t.Fatal(err)
			}
			out[string(cs.Category)+"/"+string(cs.Status)]++
		}
	}
	return out
}

// The multiplied stream, replayed through the engine, gives every copy's
// answer once: fresh ids keep copies apart although they overlap.
func TestGeneratedStreamReplaysToGoldenOutcomes(t *testing.T) {
	recs := load(t)
	const rounds = 3
	st, err := Generate(recs, Options{Copies: rounds * len(recs), Concurrency: 40})
	if err != nil {
		t.Fatal(err)
	}
	if st.MaxOpen < 20 {
		t.Errorf("MaxOpen = %d, want copies interleaved (about 40 open)", st.MaxOpen)
	}
	path := filepath.Join(t.TempDir(), "stream.ami")
	if err := os.WriteFile(path, st.Bytes, 0o644); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	ids := map[string]bool{}
	n := 0
	// AMI alone tells outbound-vmdrop-ari by its Stasis application
	// (mapping.vmdrop_stasis_apps in the lab rules).
	_, err = replay.Run(replay.Options{Rules: labrules.Rules(), Strict: true}, []string{path}, func(cs mapping.CallStatus) {
		n++
		if ids[cs.CallID] {
			t.Errorf("call %s reported twice", cs.CallID)
		}
		ids[cs.CallID] = true
		if cs.Incomplete {
			t.Errorf("call %s incomplete (%s): copies bleed into each other", cs.CallID, cs.Inferred)
		}
		got[string(cs.Category)+"/"+string(cs.Status)]++
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != st.Calls {
		t.Errorf("%d statuses, want %d", n, st.Calls)
	}
	want := goldenOutcomes(t)
	for k, v := range want {
		if got[k] != rounds*v {
			t.Errorf("%s: %d, want %d", k, got[k], rounds*v)
		}
	}
	if len(st.Hangups) == 0 || !strings.Contains(st.Hangups[0].Channel, "/") {
		t.Errorf("hangups not located: %v", st.Hangups[:min(1, len(st.Hangups))])
	}
	if end := st.Frames[len(st.Frames)-1].End; end != len(st.Bytes) {
		t.Errorf("last frame ends at %d of %d bytes", end, len(st.Bytes))
	}
}

func TestOpenOnlyLeavesEveryCallOpen(t *testing.T) {
	recs := load(t)
	st, err := Generate(recs, Options{Copies: 2 * len(recs), Concurrency: 1000, OpenOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Hangups) != 0 {
		t.Errorf("%d hangups in an open-only stream", len(st.Hangups))
	}
	if bytes.Contains(st.Bytes, []byte("Event: Hangup")) {
		t.Error("stream holds a hangup")
	}
}
