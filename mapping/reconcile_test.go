package mapping

import (
	"testing"
	"time"
)

// Snapshots after gaps of one or both sources, as the daemon feeds them: a
// source that comes back emits SourceUp, its ChannelSnapshot list (Time:
// when the list was read) and SnapshotDone (Time: just before the list was
// asked for). The other source's events interleave anywhere.
func TestReconcileAfterGaps(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	a := Channel{UniqueID: "1.1", LinkedID: "1.1", Name: "PJSIP/trunk-00000001", Context: "from-external", Exten: "800100", CallerNum: "5550100", State: "Up"}
	b := Channel{UniqueID: "1.2", LinkedID: "1.1", Name: "PJSIP/100-00000002", State: "Up"}
	c := Channel{UniqueID: "2.1", LinkedID: "2.1", Name: "PJSIP/trunk-00000003", Context: "from-external", Exten: "800101", CallerNum: "5550101"}
	both := func(k Kind, ch Channel, s float64) []Event {
		return []Event{{Kind: k, Source: SourceAMI, Chan: ch, Time: at(s)}, {Kind: k, Source: SourceARI, Chan: ch, Time: at(s)}}
	}
	// An answered call a->b, seen by both sources.
	answered := func() []Event {
		evs := []Event{{Kind: SourceUp, Source: SourceAMI, Time: at(0)}, {Kind: SourceUp, Source: SourceARI, Time: at(0)}}
		evs = append(evs, both(ChannelCreated, a, 1)...)
		evs = append(evs, both(ChannelCreated, b, 1.1)...)
		for _, src := range []Source{SourceAMI, SourceARI} {
			evs = append(evs, Event{Kind: DialBegin, Source: src, Chan: a, Peer: b, Time: at(1.1)},
				Event{Kind: DialEnd, Source: src, Chan: a, Peer: b, Status: "ANSWER", Time: at(2)})
		}
		return evs
	}
	down := func(src Source, s float64) Event { return Event{Kind: SourceDown, Source: src, Time: at(s)} }
	up := func(src Source, s float64) Event { return Event{Kind: SourceUp, Source: src, Time: at(s)} }
	listed := func(ch Channel, s float64) Event {
		return Event{Kind: ChannelSnapshot, Source: SourceSnapshot, Chan: ch, Time: at(s)}
	}
	done := func(src Source, s float64) Event { return Event{Kind: SnapshotDone, Source: src, Time: at(s)} }
	cat := func(parts ...[]Event) []Event {
		var out []Event
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}

	tests := map[string]struct {
		events []Event
		// want: linkedid -> inferred, for the statuses out; active: calls left.
		want   map[string]string
		active int
	}{
		"PBX restart: both sources come back before either snapshot is done": {
			events: cat(answered(), []Event{down(SourceAMI, 10), down(SourceARI, 10),
				up(SourceARI, 12), up(SourceAMI, 12.1), done(SourceARI, 12), done(SourceAMI, 12.1)}),
			want: map[string]string{"1.1": "snapshot"},
		},
		"one source restarts while the other stays up: the other reported every end": {
			events: cat(answered(), []Event{down(SourceAMI, 10), up(SourceAMI, 12), done(SourceAMI, 12)}),
			active: 1,
		},
		"interleaved snapshots both list the live call": {
			events: cat(answered(), []Event{down(SourceAMI, 10), down(SourceARI, 10), up(SourceARI, 12), up(SourceAMI, 12.1),
				listed(a, 12.2), listed(a, 12.3), listed(b, 12.2), done(SourceAMI, 12.1), listed(b, 12.3), done(SourceARI, 12)}),
			active: 1,
		},
		"a later snapshot that no longer lists a channel ends it": {
			events: cat(answered(), []Event{down(SourceAMI, 10), down(SourceARI, 10), up(SourceARI, 12),
				listed(a, 12.1), listed(b, 12.1), done(SourceARI, 12), up(SourceAMI, 14), done(SourceAMI, 14)}),
			want: map[string]string{"1.1": "snapshot"},
		},
		"a call born after the other source came back is left to that source": {
			events: cat(answered(), []Event{down(SourceAMI, 10), down(SourceARI, 10), up(SourceARI, 12), done(SourceARI, 12),
				{Kind: ChannelCreated, Source: SourceARI, Chan: c, Time: at(13)}, up(SourceAMI, 14), done(SourceAMI, 14)}),
			want:   map[string]string{"1.1": "snapshot"},
			active: 1,
		},
		"a channel newer than the snapshot is left alone": {
			events: cat(answered(), []Event{down(SourceAMI, 10), down(SourceARI, 10), up(SourceAMI, 12),
				{Kind: ChannelCreated, Source: SourceAMI, Chan: c, Time: at(12.5)}, done(SourceAMI, 12)}),
			want:   map[string]string{"1.1": "snapshot"},
			active: 1,
		},
		"start-up: a snapshot ends nothing a live source reported": {
			events: []Event{up(SourceARI, 0), {Kind: ChannelCreated, Source: SourceARI, Chan: c, Time: at(0.5)}, up(SourceAMI, 1), done(SourceAMI, 1)},
			active: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := New(DefaultConfig())
			got := map[string]string{}
			for _, e := range tc.events {
				for _, cs := range m.Apply(e) {
					if _, dup := got[cs.LinkedID]; dup {
						t.Errorf("call %s finalized twice", cs.LinkedID)
					}
					got[cs.LinkedID] = cs.Inferred
					if !cs.Incomplete {
						t.Errorf("call %s: not marked incomplete: %+v", cs.LinkedID, cs)
					}
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("statuses %v, want %v", got, tc.want)
			}
			for id, inf := range tc.want {
				if got[id] != inf {
					t.Errorf("call %s: inferred %q, want %q (all: %v)", id, got[id], inf, got)
				}
			}
			if m.Active() != tc.active {
				t.Errorf("active %d, want %d", m.Active(), tc.active)
			}
		})
	}
}
