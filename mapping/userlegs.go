package mapping

import (
	"cmp"
	"time"
)

// UserLeg is what one user (a phone, an extension, a queue member, a
// follow-me or forward target) saw of a call: one message per user when the
// call ends, so "my missed calls" has no false misses from ring groups and
// queues.
type UserLeg struct {
	Schema    int    `json:"schema"`
	CallID    string `json:"call_id"`
	LinkedID  string `json:"linkedid"`
	PBX       string `json:"pbx,omitempty"`
	Extension string `json:"extension"`
	// Outcome: answered (this user took the call), answered_elsewhere
	// (it rang here, someone else took it), missed (it rang here, nobody
	// took it) or busy (this user's phone refused it).
	Outcome   UserOutcome `json:"outcome"`
	Direction Direction   `json:"direction"`
	Category  Category    `json:"category"`
	Status    Status      `json:"status"` // the call's
	From      Party       `json:"from"`
	To        Party       `json:"to"`
	Queue     string      `json:"queue,omitempty"`
	Channel   string      `json:"channel"`
	RingStart *time.Time  `json:"ring_start,omitempty"`
	Answer    *time.Time  `json:"answer,omitempty"`
	// RingSeconds: how long it rang for this user (to their answer, the
	// end of their dial, or the call's answer elsewhere).
	RingSeconds float64   `json:"ring_seconds"`
	End         time.Time `json:"end"` // the call's end
}

// UserOutcome is a user's side of a call.
type UserOutcome string

const (
	UserAnswered          UserOutcome = "answered"
	UserAnsweredElsewhere UserOutcome = "answered_elsewhere"
	UserMissed            UserOutcome = "missed"
	UserBusy              UserOutcome = "busy"
)

// rank orders outcomes when one user has several legs (a Local channel and
// the phone it dialed, or two queue visits ringing the same member).
func (o UserOutcome) rank() int {
	switch o {
	case UserAnswered:
		return 3
	case UserAnsweredElsewhere:
		return 2
	case UserBusy:
		return 1
	}
	return 0
}

// UserLegs derives, from a final status, one UserLeg per user that rang:
// every leg that is not a carrier trunk (mapping.trunk_channels), named by
// its extension (PJSIP/101-0000002a and Local/101@phones-00000003;1 are
// user 101). Extensions that are not subject tokens are left out.
func (c Config) UserLegs(cs CallStatus) []UserLeg {
	var out []UserLeg
	index := map[string]int{}
	for i := range cs.Legs {
		l := &cs.Legs[i]
		ext := resource(l.Channel)
		if matchAny(c.TrunkChannels, l.Channel) || CheckSubjectToken("", ext) != nil {
			continue
		}
		u := UserLeg{
			Schema: SchemaVersion, CallID: cs.CallID, LinkedID: cs.LinkedID, PBX: cs.PBX,
			Extension: ext, Outcome: userOutcome(l.Outcome, cs.Answer != nil), Direction: cs.Direction,
			Category: cs.Category, Status: cs.Status, From: cs.From, To: cs.To,
			Queue: l.Queue, Channel: l.Channel, RingStart: l.RingStart, Answer: l.Answer, End: cs.End,
		}
		if l.RingStart != nil {
			end := cmp.Or(ptrTime(l.Answer), ptrTime(l.RingEnd))
			if end.IsZero() && u.Outcome == UserAnsweredElsewhere {
				end = ptrTime(cs.Answer)
			}
			u.RingSeconds = seconds(cmp.Or(end, cs.End).Sub(*l.RingStart))
		}
		if j, seen := index[ext]; seen {
			if u.Outcome.rank() > out[j].Outcome.rank() {
				out[j] = u
			}
			continue
		}
		index[ext] = len(out)
		out = append(out, u)
	}
	return out
}

// userOutcome: a leg that rang unanswered in a call someone took (a queue
// member who let it ring, a first queue before the overflow answered) was
// answered elsewhere, not missed: no false misses.
func userOutcome(legOutcome string, callAnswered bool) UserOutcome {
	switch {
	case legOutcome == "answered":
		return UserAnswered
	case legOutcome == "busy":
		return UserBusy
	case legOutcome == "answered_elsewhere" || callAnswered:
		return UserAnsweredElsewhere
	}
	return UserMissed // noanswer, rang, canceled, chanunavail, congestion
}

func ptrTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
