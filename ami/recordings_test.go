package ami

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/callstatus/callstatus/mapping"
)

// TestRecordings reads every AMI recording (raw bytes as Asterisk 22 sent
// them: the lab's under ../testdata/recordings, and this package's own
// capture of originated calls in testdata/) and checks that the reader takes
// all of it through the EventReader with no fault (a tail cut mid-frame
// aside) and that the events the engine uses translate.
func TestRecordings(t *testing.T) {
	lab, err := filepath.Glob(filepath.Join("..", "testdata", "recordings", "*.ami"))
	if err != nil {
		t.Fatal(err)
	}
	own, err := filepath.Glob(filepath.Join("testdata", "*.ami"))
	if err != nil {
		t.Fatal(err)
	}
	if len(own) == 0 {
		t.Fatal("testdata/*.ami is missing")
	}
	files := append(own, lab...)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			fh, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			var frames, wanted, translated int
			untranslated := map[string]int{}
			er := NewEventReader(fh, EventOptions{
				OnFault: func(f Fault) error {
					if f.Kind != FaultTruncated {
						t.Errorf("%v", f)
					}
					return nil
				},
				OnFrame: func(f *Frame, ev *mapping.Event, ok bool) {
					frames++
					name := f.Event()
					_, known := eventKind(name)
					if known {
						wanted++
					}
					if ok {
						translated++
						if ev.Seq != f.Seq {
							t.Errorf("frame %d: Seq %d", f.Seq, ev.Seq)
						}
					} else if known {
						untranslated[name]++
					}
				},
			})
			for {
				_, err := er.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					if errors.Is(err, io.ErrUnexpectedEOF) {
						// A recording stopped while Asterisk was writing.
						t.Logf("recording ends inside a frame after %d frames", frames)
						break
					}
					t.Fatalf("frame %d: %v", frames+1, err)
				}
			}
			if frames == 0 {
				t.Fatal("no frames")
			}
			// Known events fail to translate only without a channel
			// (global VarSet, UserEvent from the AMI action).
			if wanted > 0 && translated*100 < wanted*95 {
				t.Errorf("translated %d of %d known events; untranslated: %v", translated, wanted, untranslated)
			}
			names := make([]string, 0, len(untranslated))
			for n := range untranslated {
				names = append(names, n)
			}
			sort.Strings(names)
			t.Logf("%d frames, %d known events, %d translated, untranslated known: %v", frames, wanted, translated, names)
		})
	}
}

// TestCapturedAgentConnect pins the translation of a frame Asterisk 22.10
// really sent (SystemName, channelvars, an escaped caller name).
func TestCapturedAgentConnect(t *testing.T) {
	ev := capturedEvent(t, "asterisk22-originate.ami", "AgentConnect")
	want := mapping.Event{
		Kind: mapping.AgentConnect, Source: mapping.SourceAMI, Seq: ev.Seq,
		Time: time.Unix(1795629796, 941532000).UTC(),
		Chan: mapping.Channel{UniqueID: "lab-1795629795.5", LinkedID: "lab-1795629795.1",
			Name: "Local/840001@from-external-00000001;2", State: "Up",
			CallerNum: "15551234567", CallerName: `Bob "B" Jones`,
			ConnectedNum: "15551234567", ConnectedName: `Bob "B" Jones`,
			Context: "from-external", Exten: "840001"},
		Peer: mapping.Channel{UniqueID: "lab-1795629795.11", LinkedID: "lab-1795629795.1",
			Name: "Local/231@lab-phones-00000005;1", State: "Up",
			CallerNum: "15551234567", CallerName: `Bob "B" Jones`,
			ConnectedNum: "15551234567", ConnectedName: `Bob "B" Jones`,
			Context: "lab-phones", Exten: "840001"},
		Queue: "support", Status: "1",
	}
	if !reflect.DeepEqual(ev, want) {
		t.Errorf("Translate\n got %+v\nwant %+v", ev, want)
	}
}

// TestCapturedBlindTransfer: an AMI BlindTransfer action on a queue call's
// agent leg, as Asterisk 22.10 reported it.
func TestCapturedBlindTransfer(t *testing.T) {
	ev := capturedEvent(t, "asterisk22-blindtransfer.ami", "BlindTransfer")
	if ev.Kind != mapping.Transfer || ev.Status != "blind" || ev.Value != "Success" ||
		ev.Chan.UniqueID != "lab-1795629873.23" || ev.Chan.Name != "Local/231@lab-phones-0000000b;1" ||
		ev.Peer.UniqueID != "lab-1795629872.20" || ev.Peer.CallerNum != "" ||
		ev.Bridge != "051cc3e7-ff3c-4fed-a3ee-62542aad435c" || len(ev.Linked) != 0 ||
		!ev.Time.Equal(time.Unix(1795629875, 444255000)) {
		t.Errorf("Translate = %+v", ev)
	}
}

// capturedEvent reads a real capture from testdata through the EventReader
// and returns the event of the first frame of the named AMI event.
func capturedEvent(t *testing.T, file, event string) mapping.Event {
	t.Helper()
	fh, err := os.Open(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var last string
	er := NewEventReader(fh, EventOptions{OnFrame: func(f *Frame, _ *mapping.Event, _ bool) { last = f.Event() }})
	for {
		ev, err := er.Next()
		if err != nil {
			t.Fatalf("no %s in the capture: %v", event, err)
		}
		if last == event {
			return ev
		}
	}
}
