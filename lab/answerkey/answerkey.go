// Package answerkey is the expected outcome of a lab call, as the scenario
// catalogue (lab.Scenarios) defines it and a recording's manifest stores
// it, and the comparison of a published status (its JSON) against it. It
// imports nothing from this repository, so engine tests use it without
// linking the lab (Docker, NATS).
//
// The key is written from what the scenario does (the dialplan path, who
// answers, who hangs up first), never from the engine's output. Where the
// engine is known to get a field wrong today, the call names the field in
// KnownWrong with the reason; the comparison then reports the field as
// known, and fails if it has become right, so the list cannot rot.
package answerkey

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Call is what one call of a scenario is expected to end as.
type Call struct {
	Description string   `json:"description"`
	Category    string   `json:"category"` // outbound, inbound, callcenter
	Status      string   `json:"status"`   // see mapping.Status
	Reason      string   `json:"reason,omitempty"`
	Direction   string   `json:"direction"` // inbound, outbound, internal
	Internal    bool     `json:"internal,omitempty"`
	From        string   `json:"from"`   // caller number
	To          string   `json:"to"`     // called number (DID, extension, far number, feature code)
	Dialed      string   `json:"dialed"` // what was dialed, with any route prefix
	Agent       string   `json:"agent,omitempty"`
	Queues      []string `json:"queues,omitempty"`
	// HangupBy is who ended the call first: "caller" (the calling party
	// hung up), "callee" (the called side hung up, or refused: busy), or
	// "system" (the PBX ended it: a ring or queue timeout, an unreachable
	// phone, a voicemail drop ending both legs).
	HangupBy string `json:"hangup_by"`
	// DialStatus is the outcome of the dial that decided the call: ANSWER
	// when someone answered (in a queue: the winning member's), else the
	// DIALSTATUS of the attempt (NOANSWER, BUSY, CANCEL...); "" when nobody
	// was dialed.
	DialStatus string `json:"dialstatus,omitempty"`
	// Voicemail is set when the call reached a voicemail box.
	Voicemail *Voicemail `json:"voicemail,omitempty"`
	// AMIOnlyStatus is what a daemon with only AMI can tell where it
	// differs: AMI does not report ARI playbacks, so a voicemail drop
	// played by an ARI application looks like a plain connected call.
	AMIOnlyStatus string `json:"ami_only_status,omitempty"`
	// KnownWrong names fields (see Fields) the engine gets wrong today,
	// with the reason; remove an entry once the engine is fixed.
	KnownWrong map[string]string `json:"known_wrong,omitempty"`
}

// Voicemail is the voicemail part of the key.
type Voicemail struct {
	// MessageLeft: the caller stayed past the beep and a message was saved.
	MessageLeft bool `json:"message_left"`
}

// Extra is a status the engine publishes today that the scenario does not
// produce as a call of its own (e.g. a pickup code's channel reported as
// its own call when it joined the picked-up call). Listed so the lead can
// see it and remove it once the engine is fixed.
type Extra struct {
	From string `json:"from"`
	To   string `json:"to"`
	Why  string `json:"why"`
}

// Fields are the compared fields, in report order. Reason is compared
// only when the key has one; voicemail.message_left only when the key has
// Voicemail.
var Fields = []string{"category", "status", "reason", "direction", "from", "to", "agent", "queues",
	"hangup.by", "dialstatus", "voicemail.message_left"}

// Missing, as a KnownWrong key, says the engine publishes no status of its
// own for this call today (e.g. it merges it into another call).
const Missing = "call"

// Core are the fields every source alone must get right (AMI-only and
// ARI-only replays, the live daemons in the integration test).
var Core = []string{"category", "status", "reason", "direction"}

// Mismatch is one field that differs from the key (or, for a known-wrong
// field that is right now, one that no longer does).
type Mismatch struct {
	Field, Want, Got string
	// Why is the KnownWrong reason, if the field is listed there.
	Why string
}

func (m Mismatch) String() string {
	s := fmt.Sprintf("%s: want %q, got %q", m.Field, m.Want, m.Got)
	if m.Why != "" {
		s += " (known: " + m.Why + ")"
	}
	return s
}

// Result is the comparison of one status with its key.
type Result struct {
	Wrong []Mismatch // differ and not known wrong: a regression (or a wrong key)
	Known []Mismatch // differ, listed in KnownWrong
	Fixed []Mismatch // listed in KnownWrong but right now: remove the entry
}

// Compare checks the fields (a subset of Fields; nil means Fields) of a
// status document against the key.
func (c Call) Compare(status []byte, fields []string) (Result, error) {
	if fields == nil {
		fields = Fields
	}
	for f := range c.KnownWrong {
		if f != Missing && !slices.Contains(Fields, f) {
			return Result{}, fmt.Errorf("answerkey: known_wrong names %q, not one of %v", f, Fields)
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(status, &doc); err != nil {
		return Result{}, fmt.Errorf("answerkey: status: %w", err)
	}
	var r Result
	for _, f := range fields {
		want, ok := c.want(f)
		if !ok {
			continue
		}
		got := lookup(doc, f)
		why, known := c.KnownWrong[f]
		m := Mismatch{Field: f, Want: want, Got: got, Why: why}
		switch {
		case got != want && known:
			r.Known = append(r.Known, m)
		case got != want:
			r.Wrong = append(r.Wrong, m)
		case known:
			r.Fixed = append(r.Fixed, m)
		}
	}
	return r, nil
}

// want is the expected value of field f as text; false when the key does
// not constrain f.
func (c Call) want(f string) (string, bool) {
	switch f {
	case "category":
		return c.Category, true
	case "status":
		return c.Status, true
	case "reason":
		return c.Reason, c.Reason != ""
	case "direction":
		return c.Direction, true
	case "from":
		return c.From, true
	case "to":
		return c.To, true
	case "agent":
		return c.Agent, true
	case "queues":
		return strings.Join(c.Queues, ","), true
	case "hangup.by":
		return c.HangupBy, true
	case "dialstatus":
		return c.DialStatus, true
	case "voicemail.message_left":
		if c.Voicemail == nil {
			return "", false
		}
		return fmt.Sprint(c.Voicemail.MessageLeft), true
	}
	return "", false
}

// lookup reads field f of a status document as text ("" when absent).
func lookup(doc map[string]any, f string) string {
	switch f {
	case "from", "to", "agent":
		return text(path(doc, f, "number"))
	case "queues":
		qs, _ := doc["queues"].([]any)
		var names []string
		for _, q := range qs {
			if m, ok := q.(map[string]any); ok {
				names = append(names, text(m["queue"]))
			}
		}
		return strings.Join(names, ",")
	}
	return text(path(doc, strings.Split(f, ".")...))
}

func path(doc map[string]any, keys ...string) any {
	var v any = doc
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// Matches says whether a status document is this extra status.
func (e Extra) Matches(status []byte) bool {
	var doc map[string]any
	if json.Unmarshal(status, &doc) != nil {
		return false
	}
	return lookup(doc, "from") == e.From && lookup(doc, "to") == e.To
}
