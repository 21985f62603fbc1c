package mapping_test

import (
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/callstatus/callstatus/lab/labrules"
	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/replay"
)

// loadScenario reads one recording (AMI and ARI merged as the replay does)
// into a slice of events.
func loadScenario(t *testing.T, base string) []mapping.Event {
	t.Helper()
	var out []mapping.Event
	_, err := replay.Read(replay.Options{Strict: true}, []string{base + ".ami", base + ".ari.jsonl"}, func(e mapping.Event) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func outcomes(statuses []mapping.CallStatus) []string {
	var out []string
	for _, cs := range statuses {
		out = append(out, cs.CallID+" "+string(cs.Category)+"/"+string(cs.Status)+"/"+cs.Reason)
	}
	sort.Strings(out)
	return out
}

// Independent calls fed in any interleaving (each stream keeping its own
// order, as a real PBX does) classify exactly as when fed alone.
func TestRandomInterleavingsOfIndependentCalls(t *testing.T) {
	manifests, _ := filepath.Glob("../testdata/recordings/*.manifest.json")
	if len(manifests) < 20 {
		t.Fatalf("found %d recordings, want every lab scenario", len(manifests))
	}
	var streams [][]mapping.Event
	var want []mapping.CallStatus
	for _, mf := range manifests {
		events := loadScenario(t, strings.TrimSuffix(mf, ".manifest.json"))
		m := mapping.New(labrules.Rules())
		for _, e := range events {
			want = append(want, m.Apply(e)...)
		}
		if m.Active() != 0 {
			t.Fatalf("%s: %d calls left open", mf, m.Active())
		}
		streams = append(streams, events)
	}
	wantOut := outcomes(want)
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		pos := make([]int, len(streams))
		a := mapping.NewAudit(labrules.Rules())
		var got []mapping.CallStatus
		for {
			var live []int
			for i, s := range streams {
				if pos[i] < len(s) {
					live = append(live, i)
				}
			}
			if len(live) == 0 {
				break
			}
			i := live[rng.IntN(len(live))]
			out, err := a.Apply(streams[i][pos[i]])
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			got = append(got, out...)
			pos[i]++
		}
		if _, err := a.Finish(streams[0][len(streams[0])-1].Time); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		gotOut := outcomes(got)
		if strings.Join(gotOut, "\n") != strings.Join(wantOut, "\n") {
			t.Fatalf("seed %d: interleaved outcomes differ\nwant:\n%s\ngot:\n%s", seed, strings.Join(wantOut, "\n"), strings.Join(gotOut, "\n"))
		}
	}
	t.Logf("%d streams, %d calls, 20 interleavings", len(streams), len(wantOut))
}

// Every recording, merged and each source alone, keeps the engine's
// invariants after every event (mapping.Audit).
func TestRecordingsKeepInvariants(t *testing.T) {
	manifests, _ := filepath.Glob("../testdata/recordings/*.manifest.json")
	for _, mf := range manifests {
		base := strings.TrimSuffix(mf, ".manifest.json")
		for set, files := range map[string][]string{"merged": {base + ".ami", base + ".ari.jsonl"}, "ami": {base + ".ami"}, "ari": {base + ".ari.jsonl"}} {
			t.Run(filepath.Base(base)+"/"+set, func(t *testing.T) {
				a := mapping.NewAudit(labrules.Rules())
				var last mapping.Event
				_, err := replay.Read(replay.Options{Strict: true}, files, func(e mapping.Event) error {
					last = e
					_, err := a.Apply(e)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := a.Finish(last.Time); err != nil {
					t.Fatal(err)
				}
				if len(a.Published) == 0 {
					t.Fatal("no status")
				}
			})
		}
	}
}
