package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/callstatus/callstatus/lab"
	"github.com/callstatus/callstatus/lab/answerkey"
	"github.com/callstatus/callstatus/mapping"
)

// statusFor is the status a perfect daemon publishes for c.
func statusFor(c lab.Call) mapping.CallStatus {
	reason := c.Reason
	if reason == "" {
		reason = "ANSWER"
	}
	return mapping.CallStatus{Category: mapping.Category(c.Category), Status: mapping.Status(c.Status), Reason: reason,
		From: mapping.Party{Number: c.From}, To: mapping.Party{Number: c.To}}
}

func TestTally(t *testing.T) {
	all := lab.Scenarios()
	calls := 0
	for _, s := range all {
		for _, c := range s.Calls {
			if _, missing := c.KnownWrong[answerkey.Missing]; !missing {
				calls++ // the calls the engine publishes a status of its own for
			}
		}
	}
	perfect := func(tl *tally, skip func(name string, i int) bool, edit func(name string, i int, cs *mapping.CallStatus)) {
		for _, s := range all {
			tl.start(s.Name)
		}
		for _, s := range all {
			for i, c := range s.Calls {
				if _, missing := c.KnownWrong[answerkey.Missing]; missing {
					continue // the engine publishes none: so does a perfect daemon today
				}
				if skip != nil && skip(s.Name, i) {
					continue
				}
				cs := statusFor(c)
				if edit != nil {
					edit(s.Name, i, &cs)
				}
				tl.observe(cs)
			}
		}
	}
	tests := map[string]struct {
		play     func(tl *tally)
		pass     bool
		matched  int
		missing  []string
		inReport []string
	}{
		"every call as expected": {
			play: func(tl *tally) { perfect(tl, nil, nil) }, pass: true, matched: len(all),
			inReport: []string{fmt.Sprintf("%d/%d scenarios as expected; %d statuses for %d calls; 8 of 8 statuses seen — PASS", len(all), len(all), calls, calls)},
		},
		"a wrong status fails its scenario": {
			play: func(tl *tally) {
				perfect(tl, nil, func(name string, _ int, cs *mapping.CallStatus) {
					if name == "queue-abandoned" {
						cs.Status = mapping.Timeout
					}
				})
			},
			matched: len(all) - 1, missing: []string{"callcenter/abandoned"},
			inReport: []string{"queue-abandoned               callcenter/abandoned              callcenter/timeout ANSWER         ✗", "(missing: callcenter/abandoned)"},
		},
		"a wrong reason fails when the scenario names one": {
			play: func(tl *tally) {
				perfect(tl, nil, func(name string, _ int, cs *mapping.CallStatus) {
					if name == "outbound-busy" {
						cs.Reason = "CONGESTION"
					}
				})
			},
			matched: len(all) - 1,
		},
		"an incomplete status is not a match": {
			play: func(tl *tally) {
				perfect(tl, nil, func(name string, _ int, cs *mapping.CallStatus) {
					cs.Incomplete = name == "transfer-blind"
				})
			},
			matched: len(all) - 1, inReport: []string{"inbound/answered ANSWER incomplete"},
		},
		"a call without a status": {
			play: func(tl *tally) {
				perfect(tl, func(name string, i int) bool { return name == "overlap" && i == 2 }, nil)
			},
			matched: len(all) - 1, inReport: []string{"  ″                           outbound/canceled BUSY            —"},
		},
		"an unexpected status fails the demo": {
			play: func(tl *tally) {
				perfect(tl, nil, nil)
				tl.observe(mapping.CallStatus{Category: mapping.Inbound, Status: mapping.Missed, From: mapping.Party{Number: "999"}})
			},
			matched: len(all), inReport: []string{"(unexpected)", "; 1 unexpected — FAIL"},
		},
		"a driver failure fails its scenario": {
			play: func(tl *tally) {
				perfect(tl, func(name string, _ int) bool { return name == "transfer-attended" }, nil)
				tl.fail("transfer-attended", errors.New("lab: scenario transfer-attended: no channel\nmore"))
			},
			matched: len(all) - 1, inReport: []string{"driver failed", "driver: transfer-attended: lab: scenario transfer-attended: no channel\n"},
		},
		"statuses of scenarios not started yet are unexpected": {
			play: func(tl *tally) {
				s, _ := lab.Lookup("inbound-answered")
				tl.observe(statusFor(s.Calls[0]))
			},
			missing: []string{"outbound/connected", "outbound/voicemail_dropped", "outbound/canceled", "inbound/missed",
				"callcenter/handled", "callcenter/abandoned", "callcenter/timeout"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tl := newTally(all)
			tc.play(tl)
			var b strings.Builder
			r := tl.report(&b)
			if r.pass() != tc.pass || r.Matched != tc.matched {
				t.Errorf("pass %v matched %d, want %v %d\n%s", r.pass(), r.Matched, tc.pass, tc.matched, b.String())
			}
			if strings.Join(r.MissingStatuses, ",") != strings.Join(tc.missing, ",") {
				t.Errorf("missing %v, want %v", r.MissingStatuses, tc.missing)
			}
			for _, want := range tc.inReport {
				if !strings.Contains(b.String(), want) {
					t.Errorf("report lacks %q:\n%s", want, b.String())
				}
			}
		})
	}
}

// The SIP scenarios all call from phone 101 and run one after another; a
// late status of the previous one must not be taken by the next.
func TestTallyMatchesBothNumbersFirst(t *testing.T) {
	var sip []lab.Scenario
	for _, s := range lab.Scenarios() {
		if s.SIP {
			sip = append(sip, s)
		}
	}
	tl := newTally(sip)
	for _, s := range sip {
		tl.start(s.Name)
	}
	for i := len(sip) - 1; i >= 0; i-- { // in reverse
		for _, c := range sip[i].Calls {
			if _, missing := c.KnownWrong[answerkey.Missing]; missing {
				continue
			}
			e, ok := tl.observe(statusFor(c))
			if e == nil || e.scenario != sip[i].Name || !ok {
				t.Errorf("status of %s matched %+v ok=%v", sip[i].Name, e, ok)
			}
		}
	}
	if n := tl.pending(); n != 0 {
		t.Errorf("pending %d", n)
	}
}

func TestStatusLine(t *testing.T) {
	s, _ := lab.Lookup("queue-handled")
	tl := newTally([]lab.Scenario{s})
	tl.start(s.Name)
	cs := statusFor(s.Calls[0])
	cs.Reason = "AGENT_CONNECT"
	cs.Agent = &mapping.Party{Number: "231", Name: "Alice"}
	cs.Queues = []mapping.QueueVisit{{Queue: "support"}}
	cs.RingSeconds, cs.WaitSeconds, cs.TalkSeconds = 1, 1.4, 29
	e, ok := tl.observe(cs)
	got := statusLine(11100*1e6, cs, e, ok)
	want := " 11.1s  callcenter/handled            AGENT_CONNECT 15550001011 → 840001        Alice            support          1s/1s/29s         queue-handled ✓"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
