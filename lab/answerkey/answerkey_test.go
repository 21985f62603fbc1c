package answerkey

import (
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	status := `{"category":"inbound","status":"answered","reason":"ANSWER","direction":"inbound",
		"from":{"number":"1555"},"to":{"number":"800221"},"agent":{"number":"221"},
		"queues":[{"queue":"sales"},{"queue":"overflow"}],"hangup":{"by":"callee"},"dialstatus":"ANSWER","voicemail":true}`
	base := Call{Category: "inbound", Status: "answered", Direction: "inbound", From: "1555", To: "800221",
		Agent: "221", Queues: []string{"sales", "overflow"}, HangupBy: "callee", DialStatus: "ANSWER"}
	tests := map[string]struct {
		edit              func(*Call)
		wrong, known, fix string // fields, comma-separated
		err               string
	}{
		"every field right": {edit: func(*Call) {}},
		"a wrong field":     {edit: func(c *Call) { c.HangupBy = "caller" }, wrong: "hangup.by"},
		"a known wrong field": {edit: func(c *Call) {
			c.HangupBy = "caller"
			c.KnownWrong = map[string]string{"hangup.by": "engine"}
		}, known: "hangup.by"},
		"a known wrong field that is right now": {edit: func(c *Call) { c.KnownWrong = map[string]string{"agent": "engine"} }, fix: "agent"},
		"queues in order":                       {edit: func(c *Call) { c.Queues = []string{"overflow", "sales"} }, wrong: "queues"},
		"an empty key field expects nothing":    {edit: func(c *Call) { c.Agent = "" }, wrong: "agent"},
		"reason only when the key has one":      {edit: func(c *Call) { c.Reason = "BUSY" }, wrong: "reason"},
		"message_left only when the key has voicemail": {edit: func(c *Call) { c.Voicemail = &Voicemail{MessageLeft: false} },
			wrong: "voicemail.message_left"},
		"known_wrong naming no field": {edit: func(c *Call) { c.KnownWrong = map[string]string{"hangup": "x"} }, err: `known_wrong names "hangup"`},
	}
	names := func(ms []Mismatch) string {
		var s []string
		for _, m := range ms {
			s = append(s, m.Field)
		}
		return strings.Join(s, ",")
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			r, err := c.Compare([]byte(status), nil)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if names(r.Wrong) != tc.wrong || names(r.Known) != tc.known || names(r.Fixed) != tc.fix {
				t.Errorf("wrong=%q known=%q fixed=%q, want %q %q %q", names(r.Wrong), names(r.Known), names(r.Fixed), tc.wrong, tc.known, tc.fix)
			}
		})
	}
}

func TestExtraMatches(t *testing.T) {
	e := Extra{From: "241", To: "*8"}
	if !e.Matches([]byte(`{"from":{"number":"241"},"to":{"number":"*8"}}`)) {
		t.Error("same numbers do not match")
	}
	if e.Matches([]byte(`{"from":{"number":"241"},"to":{"number":"850341"}}`)) {
		t.Error("another to matches")
	}
}
