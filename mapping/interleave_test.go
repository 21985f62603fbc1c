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
		m := mapping.New(labrules.Rules())
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
			got = append(got, m.Apply(streams[i][pos[i]])...)
			pos[i]++
		}
		gotOut := outcomes(got)
		if strings.Join(gotOut, "\n") != strings.Join(wantOut, "\n") {
			t.Fatalf("seed %d: interleaved outcomes differ\nwant:\n%s\ngot:\n%s", seed, strings.Join(wantOut, "\n"), strings.Join(gotOut, "\n"))
		}
	}
	t.Logf("%d streams, %d calls, 20 interleavings", len(streams), len(wantOut))
}
