package replay

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/callstatus/callstatus/mapping"
)

func TestRecordsReplay(t *testing.T) {
	rec := "../testdata/recordings/queue-overflow-handled"
	var got []mapping.CallStatus
	sum, err := Run(Options{Rules: mapping.DefaultConfig()}, []string{rec + ".cel.csv", rec + ".queue_log"},
		func(cs mapping.CallStatus) { got = append(got, cs) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || sum.Statuses != 1 || got[0].Status != mapping.Handled || got[0].Agent == nil || got[0].Agent.Number != "232" {
		t.Fatalf("got %+v, want one call handled by 232", got)
	}
	if ev := got[0].Evidence.Events; len(ev) != 1 || ev[0] != "queue_log:6:CONNECT" {
		t.Errorf("evidence %v, want the CONNECT line of the overflow queue", ev)
	}

	t.Run("bad rows are reported and skipped", func(t *testing.T) {
		body, err := os.ReadFile("../testdata/recordings/outbound-busy.cel.csv")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfter(string(body), "\n")
		lines = append(lines[:3], append([]string{"999,ANSWER,not a time,x,x\n"}, lines[3:]...)...)
		f := writeFile(t, t.TempDir(), "bad.cel.csv", strings.Join(lines, ""))
		var problems []Problem
		var got []mapping.CallStatus
		sum, err := Run(Options{Rules: mapping.DefaultConfig(), Report: func(p Problem) { problems = append(problems, p) }},
			[]string{f}, func(cs mapping.CallStatus) { got = append(got, cs) })
		if err != nil {
			t.Fatal(err)
		}
		if len(problems) != 1 || problems[0].Line != 4 || problems[0].Kind != "bad_record" || sum.Bad[f] != 1 {
			t.Fatalf("problems %v, bad %v: want line 4 reported once", problems, sum.Bad)
		}
		if len(got) != 1 || got[0].Status != mapping.Canceled || got[0].Reason != "BUSY" {
			t.Fatalf("got %+v, want the busy call still", got)
		}
		_, err = Run(Options{Rules: mapping.DefaultConfig(), Strict: true}, []string{f}, func(mapping.CallStatus) {})
		if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "line 4") {
			t.Fatalf("strict: err = %v, want the bad line", err)
		}
	})
	t.Run("never mixed with AMI", func(t *testing.T) {
		_, err := Run(Options{Rules: mapping.DefaultConfig()}, []string{rec + ".cel.csv", rec + ".ami"}, func(mapping.CallStatus) {})
		if err == nil || !strings.Contains(err.Error(), "apart") {
			t.Fatalf("err = %v", err)
		}
	})
}
