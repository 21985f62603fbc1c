package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/publish"
)

// ringGroupCall is call i to the ring group 201, 202, answered by
// answeredBy ("" nobody).
func ringGroupCall(i int, answeredBy string) mapping.CallStatus {
	start := time.Date(2025, 11, 25, 10, i, 0, 0, time.UTC)
	ring := start.Add(time.Second)
	ans := ring.Add(3 * time.Second)
	linked := fmt.Sprintf("1764064800.%d", i)
	cs := mapping.CallStatus{
		Schema: mapping.SchemaVersion, CallID: "lab:" + linked, LinkedID: linked, PBX: "lab",
		Category: mapping.Inbound, Status: mapping.Answered, Direction: "inbound",
		From: mapping.Party{Number: fmt.Sprintf("555010%d", i)}, To: mapping.Party{Number: "820001"},
		Start: start, Answer: &ans, End: ans.Add(time.Minute), Channels: []string{}, Evidence: mapping.Evidence{Rule: "r"},
	}
	if answeredBy == "" {
		cs.Status, cs.Answer, cs.End = mapping.Missed, nil, ring.Add(20*time.Second)
	}
	for _, ext := range []string{"201", "202"} {
		l := mapping.Leg{Channel: "PJSIP/" + ext + "-0000000" + ext[2:], RingStart: &ring, Outcome: "noanswer"}
		switch {
		case answeredBy == ext:
			l.Outcome, l.Answer = "answered", &ans
		case answeredBy != "":
			l.Outcome = "answered_elsewhere"
		}
		cs.Legs = append(cs.Legs, l)
	}
	return cs
}

// recents reads what the daemon's publisher put in the stream: the last N
// calls of one extension, newest last, one outcome with --outcome, the
// bodies with --json.
func TestRecents(t *testing.T) {
	e, err := publish.StartEmbedded(publish.EmbeddedConfig{Host: "127.0.0.1", Port: -1, Listen: true, StoreDir: t.TempDir()}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	url := e.Server.ClientURL()
	cfg := publish.DefaultNATSConfig()
	nc, err := e.Connect(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	p, err := publish.New(nc, cfg, "lab", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.UserLegs = mapping.Config{}.UserLegs
	calls := []mapping.CallStatus{ringGroupCall(1, "201"), ringGroupCall(2, ""), ringGroupCall(3, "202"), ringGroupCall(4, "")}
	for _, cs := range append(calls, calls[1]) { // the last one a retry: kept once
		if err := p.Publish(context.Background(), cs); err != nil {
			t.Fatal(err)
		}
	}
	line := func(i int, outcome string) string {
		cs := calls[i-1]
		return fmt.Sprintf("%s  %-18s inbound  555010%d → 820001 ring=%.0fs user=201 call=%s",
			cs.Legs[0].RingStart.Local().Format("2006-01-02 15:04:05"), outcome, i, map[string]float64{"missed": 20, "answered": 3, "answered_elsewhere": 3}[outcome], cs.CallID)
	}
	tests := map[string]struct {
		args   []string
		want   []string
		stderr string
	}{
		"last 3 of 201": {args: []string{"201", "--last", "3"},
			want: []string{line(2, "missed"), line(3, "answered_elsewhere"), line(4, "missed")}},
		"every call, by default up to 20": {args: []string{"201"},
			want: []string{line(1, "answered"), line(2, "missed"), line(3, "answered_elsewhere"), line(4, "missed")}},
		"missed only": {args: []string{"201", "--outcome", "missed"},
			want: []string{line(2, "missed"), line(4, "missed")}},
		"no calls": {args: []string{"999"}, stderr: "recents: no calls for 999 in stream CALLSTATUS\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, errOut, err := runArgs(t, append([]string{"recents", "--server", url}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			filter := "callstatus.*.user." + tc.args[0] + "."
			if name == "missed only" {
				filter += "missed"
			} else {
				filter += ">"
			}
			if want := "recents: " + filter + " on " + url + " (--server)\n" + tc.stderr; errOut != want {
				t.Errorf("stderr %q, want %q", errOut, want)
			}
			got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if out == "" {
				got = nil
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		out, _, err := runArgs(t, "recents", "--server", url, "202", "--json", "--last", "1")
		if err != nil {
			t.Fatal(err)
		}
		var u mapping.UserLeg
		if err := json.Unmarshal([]byte(out), &u); err != nil {
			t.Fatalf("%v: %q", err, out)
		}
		if u.CallID != calls[3].CallID || u.Extension != "202" || u.Outcome != mapping.UserMissed {
			t.Errorf("got %s", out)
		}
	})

	for name, tc := range map[string]struct {
		args []string
		err  string
	}{
		"bad outcome":   {[]string{"201", "--outcome", "lost"}, `recents: --outcome must be answered, answered_elsewhere, missed or busy, got "lost"`},
		"bad extension": {[]string{"20.1"}, `recents: EXTENSION must be a NATS subject token (no spaces, control characters, '.', '*' or '>'), got "20.1"`},
		"last 0":        {[]string{"201", "--last", "0"}, "recents: --last must be at least 1, got 0"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := runArgs(t, append([]string{"recents", "--server", url}, tc.args...)...)
			if err == nil || err.Error() != tc.err {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

// tail --subject 'callstatus.>' gets the per-user messages too: each is
// printed as recents prints it, not as an undecodable status.
func TestTailPrintsUserLegs(t *testing.T) {
	u := mapping.Config{}.UserLegs(ringGroupCall(1, "202"))[0]
	body, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	got := formatStatus(&nats.Msg{Subject: "callstatus.lab.user.201.answered_elsewhere", Data: body})
	want := fmt.Sprintf("%s  answered_elsewhere inbound  5550101 → 820001 ring=3s user=201 call=lab:1764064800.1",
		u.RingStart.Local().Format("2006-01-02 15:04:05"))
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
