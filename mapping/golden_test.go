package mapping_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callstatus/callstatus/lab/answerkey"
	"github.com/callstatus/callstatus/lab/labrules"
	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/replay"
)

// manifest is a recording's answer key (lab.Manifest, read through
// answerkey so this package does not depend on the lab).
type manifest struct {
	Scenario   string            `json:"scenario"`
	Calls      []answerkey.Call  `json:"calls"`
	KnownExtra []answerkey.Extra `json:"known_extra"`
}

var update = flag.Bool("update", false, "rewrite testdata/recordings/*.golden.jsonl from the engine's output")

// Every lab recording under ../testdata/recordings (or
// $CALLSTATUS_RECORDINGS): NAME.ami + NAME.ari.jsonl + NAME.manifest.json
// replays to its answer key: AMI and ARI merged, and each source alone. The
// merged output must also equal NAME.golden.jsonl (rewritten by -update).
func TestReplayRecordings(t *testing.T) {
	dir := "../testdata/recordings"
	if d := os.Getenv("CALLSTATUS_RECORDINGS"); d != "" {
		dir = d // e.g. fresh recordings from `callstatus-lab record`
	}
	manifests, _ := filepath.Glob(filepath.Join(dir, "*.manifest.json"))
	if len(manifests) < 20 {
		t.Fatalf("found %d recordings in %s, want every lab scenario", len(manifests), dir)
	}
	for _, mf := range manifests {
		base := strings.TrimSuffix(mf, ".manifest.json")
		name := filepath.Base(base)
		body, err := os.ReadFile(mf)
		if err != nil {
			t.Fatal(err)
		}
		var m manifest
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%s: %v", mf, err)
		}
		var both []string
		for _, f := range []string{base + ".ami", base + ".ari.jsonl"} {
			if _, err := os.Stat(f); err == nil {
				both = append(both, f)
			}
		}
		sets := map[string][]string{"merged": both}
		if len(both) == 2 {
			sets["ami"], sets["ari"] = both[:1], both[1:]
		}
		for set, files := range sets {
			t.Run(name+"/"+set, func(t *testing.T) {
				opt := replay.Options{Rules: labrules.Rules(), Strict: true}
				var got []mapping.CallStatus
				start := time.Now()
				if _, err := replay.Run(opt, files, func(cs mapping.CallStatus) { got = append(got, cs) }); err != nil {
					t.Fatal(err)
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("replay took %s", d)
				}
				calls := append([]answerkey.Call(nil), m.Calls...)
				for i, c := range calls {
					if set == "ami" && c.AMIOnlyStatus != "" {
						calls[i].Status, calls[i].Reason = c.AMIOnlyStatus, ""
					}
				}
				checkManifest(t, set == "merged", calls, m.KnownExtra, got)
				if set == "merged" {
					checkGolden(t, base+".golden.jsonl", got)
				}
			})
		}
	}
}

// checkManifest pairs each expected call with a status (by caller, else
// called number) and compares the answer key: every field (answerkey.Fields)
// on the merged replay, the core fields (category, status, reason,
// direction) on each source alone. A field the key lists as known_wrong
// must still be wrong on the merged replay (else the entry is stale and
// the test fails), and is not asserted on one source alone. Statuses that
// are no call of the scenario fail, unless listed as known_extra (merged:
// each listed extra must still be published).
func checkManifest(t *testing.T, merged bool, calls []answerkey.Call, extras []answerkey.Extra, got []mapping.CallStatus) {
	t.Helper()
	docs := make([][]byte, len(got))
	for i, cs := range got {
		b, err := json.Marshal(cs)
		if err != nil {
			t.Fatal(err)
		}
		docs[i] = b
	}
	fields := answerkey.Fields
	if !merged {
		fields = answerkey.Core
	}
	used := map[int]bool{}
	for _, c := range calls {
		idx := -1
		for i, cs := range got {
			if !used[i] && (cs.From.Number == c.From || (c.To != "" && cs.To.Number == c.To)) {
				idx = i
				break
			}
		}
		why, missing := c.KnownWrong[answerkey.Missing]
		if idx < 0 && missing {
			t.Logf("%q: known wrong: no status of its own (%s)", c.Description, why)
			continue
		}
		if idx < 0 {
			t.Errorf("no status for %q (%s → %s)", c.Description, c.From, c.To)
			continue
		}
		if missing && merged {
			t.Errorf("%q has a status of its own now: remove %q from its known_wrong in lab/scenario.go", c.Description, answerkey.Missing)
		}
		used[idx] = true
		r, err := c.Compare(docs[idx], fields)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range r.Wrong {
			t.Errorf("%q: %s (rule %s)", c.Description, m, got[idx].Evidence.Rule)
		}
		for _, m := range r.Known {
			t.Logf("%q: known wrong: %s", c.Description, m)
		}
		if merged {
			for _, m := range r.Fixed {
				t.Errorf("%q: %s is right now (%q): remove it from known_wrong in lab/scenario.go, then go run ./cmd/callstatus-lab manifest", c.Description, m.Field, m.Got)
			}
		}
	}
	seen := map[int]bool{}
	for i, cs := range got {
		if used[i] {
			continue
		}
		known := false
		for j, e := range extras {
			if !seen[j] && e.Matches(docs[i]) {
				seen[j], known = true, true
				t.Logf("known extra status %s %s/%s from=%q to=%q: %s", cs.CallID, cs.Category, cs.Status, cs.From.Number, cs.To.Number, e.Why)
				break
			}
		}
		if !known {
			t.Errorf("unexpected status %s %s/%s from=%q to=%q", cs.CallID, cs.Category, cs.Status, cs.From.Number, cs.To.Number)
		}
	}
	if merged {
		for j, e := range extras {
			if !seen[j] {
				t.Errorf("known extra status from=%q to=%q is no longer published: remove it from KnownExtra in lab/scenario.go", e.From, e.To)
			}
		}
	}
}

// checkGolden compares every field of the merged replay with the golden
// file, so a change in legs, agents or timings is seen, not just statuses.
func checkGolden(t *testing.T, path string, got []mapping.CallStatus) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, cs := range got {
		if err := enc.Encode(cs); err != nil {
			t.Fatal(err)
		}
	}
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./mapping -run TestReplayRecordings -update)", err)
	}
	if !bytes.Equal(want, buf.Bytes()) {
		wl, gl := bytes.Split(want, []byte("\n")), bytes.Split(buf.Bytes(), []byte("\n"))
		for i := 0; i < len(wl) || i < len(gl); i++ {
			var w, g []byte
			if i < len(wl) {
				w = wl[i]
			}
			if i < len(gl) {
				g = gl[i]
			}
			if !bytes.Equal(w, g) {
				t.Fatalf("%s line %d differs (run with -update if the change is right)\n want %s\n  got %s", path, i+1, w, g)
			}
		}
	}
}

// A drop played by an ARI application, seen with AMI alone: connected,
// unless mapping.vmdrop_stasis_apps names the application; then
// voicemail_dropped, inferred from it. With ARI on, the playback confirms
// it and names the media.
func TestVMDropStasisAppWithAMIAlone(t *testing.T) {
	base := "../testdata/recordings/outbound-vmdrop-ari"
	run := func(apps []string, files ...string) mapping.CallStatus {
		t.Helper()
		rules := labrules.Rules()
		rules.VMDropStasisApps = apps
		var got []mapping.CallStatus
		if _, err := replay.Run(replay.Options{Rules: rules, Strict: true}, files, func(cs mapping.CallStatus) { got = append(got, cs) }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("%d statuses, want 1", len(got))
		}
		return got[0]
	}
	if cs := run(nil, base+".ami"); cs.Status != mapping.Connected {
		t.Errorf("AMI alone, no app configured: %s, want connected", cs.Status)
	}
	cs := run([]string{"callstatus-lab,vmdrop*"}, base+".ami")
	if cs.Status != mapping.VoicemailDropped || cs.Inferred != "vmdrop_app:callstatus-lab" || cs.VMDropMedia != "" || len(cs.Evidence.Events) != 1 || !strings.HasSuffix(cs.Evidence.Events[0], ":app_run") {
		t.Errorf("AMI alone, app configured: %s inferred=%q media=%q evidence=%v, want voicemail_dropped inferred from the app", cs.Status, cs.Inferred, cs.VMDropMedia, cs.Evidence.Events)
	}
	cs = run([]string{"callstatus-lab,vmdrop*"}, base+".ami", base+".ari.jsonl")
	if cs.Status != mapping.VoicemailDropped || cs.Inferred != "" || cs.VMDropMedia != "sound:callstatus/vm-drop" {
		t.Errorf("AMI and ARI: %s inferred=%q media=%q, want voicemail_dropped with the media played", cs.Status, cs.Inferred, cs.VMDropMedia)
	}
}
