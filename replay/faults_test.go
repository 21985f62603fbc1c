package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/callstatus/callstatus/mapping"
)

const (
	faultyAMI = "../testdata/faults/faulty.ami"
	faultyARI = "../testdata/faults/faulty.ari.jsonl"
)

// cleanFiles are the lab recordings testdata/faults was made from.
var cleanFiles = []string{
	"../testdata/recordings/inbound-answered.ami", "../testdata/recordings/inbound-answered.ari.jsonl",
	"../testdata/recordings/outbound-busy.ami", "../testdata/recordings/outbound-busy.ari.jsonl",
}

// statusesWithoutEvidence replays files and renders each status as JSON
// without its evidence, which cites frame and line numbers (and those
// move when bad input is spliced in).
func statusesWithoutEvidence(t *testing.T, opt Options, files []string) ([]string, Summary) {
	t.Helper()
	var out []string
	sum, err := Run(opt, files, func(cs mapping.CallStatus) {
		cs.Evidence = mapping.Evidence{}
		b, err := json.Marshal(cs)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, sum
}

// testdata/faults holds two real calls (inbound-answered, outbound-busy,
// AMI and ARI) with bad input spliced in: garbage bytes, a frame over the
// 1 MiB limit, id-less frames, duplicated frames, lines without a colon,
// undecodable ARI lines and a truncated tail in both files. Every bad frame
// and line is reported with its file and number and skipped, and every
// call gets exactly the status the clean recordings give.
func TestFaultyCapture(t *testing.T) {
	var problems []string
	opt := Options{Rules: rules(), Report: func(p Problem) {
		where := fmt.Sprintf("line %d", p.Line)
		if p.Line == 0 {
			where = fmt.Sprintf("frame %d", p.Frame)
		}
		problems = append(problems, filepath.Base(p.File)+" "+where+" "+p.Kind)
	}}
	got, sum := statusesWithoutEvidence(t, opt, []string{faultyAMI, faultyARI})
	want := []string{
		"faulty.ari.jsonl line 4 undecodable",
		"faulty.ari.jsonl line 7 undecodable",
		"faulty.ami frame 4 garbage",
		"faulty.ami frame 5 oversized",
		"faulty.ami frame 6 garbage",
		"faulty.ami frame 7 no_id",
		"faulty.ari.jsonl line 14 undecodable",
		"faulty.ami frame 16 duplicate",
		"faulty.ami frame 46 malformed",
		"faulty.ari.jsonl line 147 truncated",
		"faulty.ami frame 141 no_id",
		"faulty.ami frame 145 duplicate",
		"faulty.ami frame 159 truncated",
	}
	if strings.Join(problems, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(problems, "\n"), strings.Join(want, "\n"))
	}
	if sum.Bad[faultyAMI] != 9 || sum.Bad[faultyARI] != 4 || sum.BadTotal() != len(problems) {
		t.Errorf("bad counts %v", sum.Bad)
	}

	clean, _ := statusesWithoutEvidence(t, Options{Rules: rules(), Strict: true}, cleanFiles)
	if len(clean) != 2 {
		t.Fatalf("the clean recordings give %d statuses, want 2", len(clean))
	}
	if strings.Join(got, "\n") != strings.Join(clean, "\n") {
		t.Errorf("statuses differ from the clean recordings'\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(clean, "\n"))
	}
}

// Strict: the first bad frame or line is the error, naming file and place.
func TestFaultyCaptureStrict(t *testing.T) {
	tests := map[string]struct {
		files []string
		want  string
	}{
		"ami": {[]string{faultyAMI}, "replay: " + faultyAMI + ": frame 4: garbage: "},
		"ari": {[]string{faultyARI}, "replay: " + faultyARI + ": line 4: undecodable: "},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Run(Options{Rules: rules(), Strict: true}, tc.files, func(mapping.CallStatus) {})
			if !errors.Is(err, ErrBadInput) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to start %q", err, tc.want)
			}
		})
	}
}

// AMI recorded without timestampevents has no order against ARI: merged,
// every call came out twice (the AMI events all sorted first, at time
// zero). Replay refuses the merge and names the setting; AMI alone still
// replays, one status per call.
func TestAMIWithoutTimestamps(t *testing.T) {
	raw, err := os.ReadFile("../testdata/recordings/inbound-answered.ami")
	if err != nil {
		t.Fatal(err)
	}
	noTS := regexp.MustCompile(`(?m)^Timestamp: [0-9.]+\r\n`).ReplaceAll(raw, nil)
	if len(noTS) == len(raw) {
		t.Fatal("the recording has no Timestamp headers to strip")
	}
	ami := writeFile(t, t.TempDir(), "no-timestamps.ami", string(noTS))
	ariFile := "../testdata/recordings/inbound-answered.ari.jsonl"

	n := 0
	_, err = Run(Options{Rules: rules()}, []string{ami, ariFile}, func(mapping.CallStatus) { n++ })
	if !errors.Is(err, ErrNoTimestamps) || !strings.Contains(err.Error(), "timestampevents = yes") || !strings.Contains(err.Error(), ami) {
		t.Errorf("merged: err = %v", err)
	}
	if n != 0 {
		t.Errorf("merged: %d statuses before the refusal", n)
	}

	var ids []string
	if _, err := Run(Options{Rules: rules(), Strict: true}, []string{ami}, func(cs mapping.CallStatus) { ids = append(ids, cs.CallID) }); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 {
		t.Errorf("AMI alone: statuses %v, want one", ids)
	}
}
