package mapping

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The fuzz target drives the engine with byte-coded events: any kind, any
// source, ids present, missing or repeated, linkedids that contradict each
// other, zero and out-of-order times, snapshots and sweeps mid-call. The
// Audit checks the engine's invariants after every step.
//
// One operation is opSize bytes:
//
//	0: kind (kindCount itself means a Sweep)
//	1: chan uniqueid (low 3 bits, 0 none), chan linkedid (bits 3-5), source (bits 6-7)
//	2: peer uniqueid (low 3 bits), peer linkedid (bits 3-5), linked list (bits 6-7)
//	3: time: 0 zero, else t0 + (n-1)%60 s (a sweep: t0 + n%121 s)
//	4: word: state, variable, application or media with its value
//	5: status, queue, bridge and count
const opSize = 6

var (
	fuzzT0  = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	fuzzIDs = [8]string{"", "1.1", "2.1", "2.2", "3.1", "3.2", "4.1", "4.2"}
	// Channel names by id: trunks, phones and the two halves of a Local.
	fuzzNames = [8]string{"", "PJSIP/trunk-0001", "PJSIP/101-0002", "PJSIP/102-0003",
		"Local/200@phones-0004;1", "Local/200@phones-0004;2", "PJSIP/trunk-0006", "PJSIP/103-0007"}
	fuzzStates = []string{"", "Up", "Ringing", "Ring", "Down", "Busy"}
	fuzzVars   = [][2]string{{"QUEUESTATUS", "TIMEOUT"}, {"QUEUESTATUS", "FULL"}, {"QUEUESTATUS", "CONTINUE"},
		{"DIALSTATUS", "BUSY"}, {"CALLSTATUS_DIRECTION", "inbound"}, {"CALLSTATUS_DIRECTION", "outbound"}, {"X", ""}}
	fuzzApps = [][2]string{{"Queue", "support,t"}, {"Queue", "sales"}, {"VoiceMail", "100@default"},
		{"Playback", "callstatus/vm-drop"}, {"Dial", "PJSIP/101"}, {"AppDial", ""}, {"AppQueue", ""}, {"ChanSpy", ""}}
	fuzzStatuses = []string{"", "ANSWER", "BUSY", "NOANSWER", "CANCEL", "RINGING", "blind", "attended"}
	fuzzQueues   = []string{"", "support", "sales"}
	fuzzBridges  = []string{"", "b1", "b2", "b3"}
	fuzzContexts = []string{"", "from-external", "from-internal", "lab-phones"}
)

// op is one decoded operation: an event, or a sweep at Time.
type op struct {
	sweep bool
	ev    Event
}

func decodeOps(data []byte) []op {
	var ops []op
	for seq := uint64(1); len(data) >= opSize; seq++ {
		b := data[:opSize]
		data = data[opSize:]
		kind := int(b[0]) % (int(kindCount) + 1)
		if kind == int(kindCount) {
			ops = append(ops, op{sweep: true, ev: Event{Time: fuzzT0.Add(time.Duration(b[3]%121) * time.Second)}})
			continue
		}
		e := Event{Kind: Kind(kind), Source: Source(b[1] >> 6), Seq: seq}
		if b[3] != 0 {
			e.Time = fuzzT0.Add(time.Duration((b[3]-1)%60) * time.Second)
		}
		e.Chan = fuzzChannel(b[1], b[4])
		e.Peer = fuzzChannel(b[2], b[4]>>3)
		for i := 0; i < int(b[2]>>6); i++ {
			e.Linked = append(e.Linked, fuzzIDs[(int(b[5])+i)%8])
		}
		w := int(b[4])
		switch e.Kind {
		case VarSet:
			v := fuzzVars[w%len(fuzzVars)]
			e.Name, e.Value = v[0], v[1]
		case AppRun, ChannelSnapshot:
			a := fuzzApps[w%len(fuzzApps)]
			e.Name, e.Value = a[0], a[1]
		case UserEvent:
			e.Name = []string{"CallStatusVMDrop", "Other"}[w%2]
		case PlaybackStarted, PlaybackFinished:
			e.Value = []string{"sound:callstatus/vm-drop", "sound:hello"}[w%2]
		case SourceUp, SourceDown:
			e.Name = e.Source.String()
		}
		a := int(b[5])
		e.Status = fuzzStatuses[a%len(fuzzStatuses)]
		e.Queue = fuzzQueues[(a>>3)%len(fuzzQueues)]
		e.Bridge = fuzzBridges[(a>>3)%len(fuzzBridges)]
		e.Count = (a >> 5) % 4
		if e.Kind == ChannelHangup {
			e.Cause = 16
		}
		ops = append(ops, op{ev: e})
	}
	return ops
}

func fuzzChannel(b, w byte) Channel {
	id := int(b & 7)
	if id == 0 {
		return Channel{}
	}
	return Channel{
		UniqueID:  fuzzIDs[id],
		LinkedID:  fuzzIDs[(b>>3)&7],
		Name:      fuzzNames[id],
		State:     fuzzStates[int(w)%len(fuzzStates)],
		CallerNum: "555010" + fuzzIDs[id][:1],
		Context:   fuzzContexts[int(w>>2)%len(fuzzContexts)],
		Exten:     "800",
	}
}

// encodeOps is decodeOps' inverse for the seeds: each op as written.
func encodeOps(ops ...[opSize]byte) []byte {
	var out []byte
	for _, o := range ops {
		out = append(out, o[:]...)
	}
	return out
}

// fuzzConfig: a TTL within the generator's time range, so sweeps end calls.
func fuzzConfig() Config {
	cfg := DefaultConfig()
	cfg.CallTTL = time.Minute
	cfg.ConfirmGrace = 5 * time.Second
	cfg.MaxCalls = 4
	return cfg
}

// runAudited applies ops through an Audit, behind the SourceUp every real
// stream starts with, and finishes with a far-future sweep.
func runAudited(t testing.TB, cfg Config, ops []op) []CallStatus {
	t.Helper()
	a := NewAudit(cfg)
	if _, err := a.Apply(Event{Kind: SourceUp, Source: SourceAMI, Name: "ami", Time: fuzzT0}); err != nil {
		t.Fatal(err)
	}
	for i, o := range ops {
		var err error
		if o.sweep {
			_, err = a.Sweep(o.ev.Time)
		} else {
			_, err = a.Apply(o.ev)
		}
		if err != nil {
			t.Fatalf("op %d: %v", i+1, err)
		}
	}
	if _, err := a.Finish(fuzzT0.Add(10 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	return a.Published
}

// The two reductions found by a random event driver (issue 10), as seeds.
var (
	// A: a transfer reveals that a dialed peer belongs to an older call.
	seedTransferRevealsOlderCall = encodeOps(
		[opSize]byte{byte(ChannelCreated), 1 | 1<<3, 0, 1, 0, 0},  // 1.1 linked 1.1 trunk
		[opSize]byte{byte(ChannelCreated), 2 | 2<<3, 0, 2, 0, 0},  // 2.1 linked 2.1 phone
		[opSize]byte{byte(DialBegin), 2 | 2<<3, 3, 3, 0, 0},       // 2.1 dials 2.2 (no linkedid)
		[opSize]byte{byte(Transfer), 2 | 2<<3, 3 | 1<<3, 4, 0, 6}, // peer 2.2 linked 1.1, blind
		[opSize]byte{byte(ChannelHangup), 1, 0, 5, 0, 0},          // hangup 1.1
		[opSize]byte{byte(ChannelHangup), 2, 0, 5, 0, 0},          // hangup 2.1
		[opSize]byte{byte(ChannelHangup), 3, 0, 5, 0, 0},          // hangup 2.2
		[opSize]byte{byte(kindCount), 0, 0, 120, 0, 0},            // sweep
	)
	// B: a lost BridgeLeave (a source gap does that).
	seedLostBridgeLeave = encodeOps(
		[opSize]byte{byte(ChannelCreated), 1 | 1<<3, 0, 1, 0, 0},
		[opSize]byte{byte(BridgeEnter), 1 | 1<<3, 0, 2, 0, 1<<3 | 1<<5}, // b1, count 1
		[opSize]byte{byte(BridgeEnter), 1 | 1<<3, 0, 3, 0, 2<<3 | 1<<5}, // b2, count 1
		[opSize]byte{byte(ChannelHangup), 1 | 1<<3, 0, 4, 0, 0},         // status 1.1
		[opSize]byte{byte(ChannelCreated), 2 | 2<<3, 0, 5, 0, 0},
		[opSize]byte{byte(BridgeEnter), 2 | 2<<3, 0, 5, 0, 1<<3 | 2<<5}, // b1, count 2
		[opSize]byte{byte(ChannelHangup), 2 | 2<<3, 0, 5, 0, 0},         // must publish 2.1
	)
)

func FuzzMachine(f *testing.F) {
	f.Add(seedTransferRevealsOlderCall)
	f.Add(seedLostBridgeLeave)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64*opSize {
			return
		}
		runAudited(t, fuzzConfig(), decodeOps(data))
	})
}

// The reductions decode to the events the issue describes and end as it
// says they must.
func TestFuzzReductions(t *testing.T) {
	t.Run("transfer reveals an older call", func(t *testing.T) {
		ops := decodeOps(seedTransferRevealsOlderCall)
		if tr := ops[3].ev; tr.Kind != Transfer || tr.Peer.UniqueID != "2.2" || tr.Peer.LinkedID != "1.1" || tr.Status != "blind" {
			t.Fatalf("op 4 decodes to %+v", tr)
		}
		got := runAudited(t, fuzzConfig(), ops)
		if len(got) != 1 || got[0].LinkedID != "1.1" || len(got[0].UniqueIDs) != 3 || got[0].Transferred != "blind" {
			t.Fatalf("got %+v, want one transferred call 1.1 with its three channels", got)
		}
	})
	t.Run("lost bridge leave", func(t *testing.T) {
		ops := decodeOps(seedLostBridgeLeave)
		if e := ops[5].ev; e.Kind != BridgeEnter || e.Bridge != "b1" || e.Count != 2 {
			t.Fatalf("op 6 decodes to %+v", e)
		}
		got := runAudited(t, fuzzConfig(), ops)
		if len(got) != 2 || got[0].LinkedID != "1.1" || got[1].LinkedID != "2.1" {
			t.Fatalf("got %+v, want calls 1.1 and 2.1 each published", got)
		}
	})
}

// The committed corpus holds the reductions, so `go test` runs them even
// where the seeds in FuzzMachine change.
func TestFuzzCorpusHoldsReductions(t *testing.T) {
	for name, seed := range map[string][]byte{"transfer-reveals-older-call": seedTransferRevealsOlderCall, "lost-bridge-leave": seedLostBridgeLeave} {
		path := filepath.Join("testdata", "fuzz", "FuzzMachine", name)
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", seed)
		if os.Getenv("CALLSTATUS_WRITE_SEEDS") != "" {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (write it with CALLSTATUS_WRITE_SEEDS=1 go test ./mapping -run TestFuzzCorpus)", err)
		}
		if strings.TrimSpace(string(got)) != strings.TrimSpace(want) {
			t.Errorf("%s does not hold the reduction", path)
		}
	}
}
