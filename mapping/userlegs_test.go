package mapping_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/callstatus/callstatus/lab/labrules"
	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/replay"
)

// Per-user messages from real recordings: in a ring group or a queue one
// member answered and the others are answered_elsewhere; a missed ring
// group is missed for each member; carrier legs are not users.
func TestUserLegsFromRecordings(t *testing.T) {
	tests := map[string]map[string]mapping.UserOutcome{
		// ring group 820001: 211 answers after 1 s, 311 keeps ringing until then
		"ringgroup-answered": {"211": mapping.UserAnswered, "311": mapping.UserAnsweredElsewhere},
		// ring group 820002: 312 never answers, 412 is busy
		"ringgroup-missed": {"312": mapping.UserMissed, "412": mapping.UserBusy},
		// queue support: agent 231 answers after 1 s (331 rings too)
		"queue-handled": {"231": mapping.UserAnswered, "331": mapping.UserAnsweredElsewhere},
		// DID 800421: extension 421 is busy
		"inbound-missed-busy": {"421": mapping.UserBusy},
		// sales rings 332 and 333 unanswered, times out; 232 answers in overflow
		"queue-overflow-handled": {"332": mapping.UserAnsweredElsewhere, "333": mapping.UserAnsweredElsewhere, "232": mapping.UserAnswered},
		// the far end is a carrier, not a user
		"outbound-connected": {},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			base := filepath.Join("../testdata/recordings", name)
			rules := labrules.Rules()
			var got []mapping.CallStatus
			if _, err := replay.Run(replay.Options{Rules: rules, Strict: true}, []string{base + ".ami", base + ".ari.jsonl"}, func(cs mapping.CallStatus) { got = append(got, cs) }); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("%d statuses", len(got))
			}
			legs := rules.UserLegs(got[0])
			have := map[string]mapping.UserOutcome{}
			for _, u := range legs {
				if _, dup := have[u.Extension]; dup {
					t.Errorf("user %s twice", u.Extension)
				}
				have[u.Extension] = u.Outcome
				if u.CallID != got[0].CallID || u.RingStart == nil || u.RingSeconds < 0 || strings.Contains(u.Extension, ".") {
					t.Errorf("user %s: %+v", u.Extension, u)
				}
			}
			if len(have) != len(want) {
				t.Errorf("users %v, want %v", have, want)
			}
			for ext, o := range want {
				if have[ext] != o {
					t.Errorf("user %s: %q, want %q (all: %v)", ext, have[ext], o, have)
				}
			}
		})
	}
}
