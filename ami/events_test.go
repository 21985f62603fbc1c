package ami

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
)

func TestEventReaderFaults(t *testing.T) {
	hangup := "Event: Hangup\r\nTimestamp: 1764064800.000100\r\nChannel: PJSIP/a-1\r\nUniqueid: 1.1\r\nLinkedid: 1.1\r\nCause: 16\r\n\r\n"
	newexten := "Event: Newexten\r\nChannel: PJSIP/a-1\r\nUniqueid: 1.1\r\nLinkedid: 1.1\r\nApplication: Wait\r\nAppData: 1\r\n\r\n"
	tests := map[string]struct {
		in     string
		events int      // events returned
		faults []string // "kind@frame"
		err    error    // Next's last error
	}{
		"clean": {in: hangup, events: 1, err: io.EOF},
		"oversized frame skipped, the next still read": {
			in: "Event: VarSet\r\nValue: " + strings.Repeat("x", 300) + "\r\n\r\n" + hangup, events: 1,
			faults: []string{"oversized@1"}, err: io.EOF},
		"lines without a colon dropped, the frame kept": {
			in: "Event: Hangup\r\n\x00\xffgarbage\r\nUniqueid: 1.1\r\n\r\n", events: 1,
			faults: []string{"malformed@1"}, err: io.EOF},
		"garbage block between frames": {
			in: "\x89\x00PNG junk\r\nmore junk\r\n\r\n" + hangup, events: 1,
			faults: []string{"garbage@1"}, err: io.EOF},
		"garbage with a colon is no event": {
			in: "x:y\r\n\r\n" + hangup, events: 1,
			faults: []string{"garbage@1"}, err: io.EOF},
		"responses are not garbage": {
			in: "Response: Success\r\nMessage: Authentication accepted\r\n\r\n" + hangup, events: 1, err: io.EOF},
		"hangup without uniqueid": {
			in: "Event: Hangup\r\nChannel: PJSIP/a-1\r\nCause: 16\r\n\r\n" + hangup, events: 1,
			faults: []string{"no_id@1"}, err: io.EOF},
		"a global VarSet names no channel legitimately": {
			in: "Event: VarSet\r\nChannel: none\r\nUniqueid: none\r\nVariable: X\r\nValue: 1\r\n\r\n", err: io.EOF},
		"duplicate frame": {
			in: hangup + hangup, events: 1, faults: []string{"duplicate@2"}, err: io.EOF},
		"a repeat without timestamps is real (a dialplan loop)": {
			in: newexten + newexten, events: 2, err: io.EOF},
		"truncated tail": {
			in: hangup + "Event: Hangup\r\nUniqueid: 2.1\r\n", events: 1,
			faults: []string{"truncated@2"}, err: io.ErrUnexpectedEOF},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var faults []string
			r := NewEventReader(strings.NewReader(tc.in), EventOptions{MaxFrameSize: 200, OnFault: func(f Fault) error {
				faults = append(faults, f.Kind.String()+"@"+strconv.FormatUint(f.Frame, 10))
				return nil
			}})
			events := 0
			var err error
			for {
				if _, err = r.Next(); err != nil {
					break
				}
				events++
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("err = %v, want %v", err, tc.err)
			}
			if events != tc.events {
				t.Errorf("%d events, want %d", events, tc.events)
			}
			if strings.Join(faults, " ") != strings.Join(tc.faults, " ") {
				t.Errorf("faults %v, want %v", faults, tc.faults)
			}
		})
	}
}

// An error from OnFault stops Next with it: a strict replay.
func TestEventReaderStrict(t *testing.T) {
	stop := errors.New("stop")
	r := NewEventReader(strings.NewReader("junk\r\n\r\nEvent: Hangup\r\nUniqueid: 1.1\r\n\r\n"), EventOptions{OnFault: func(Fault) error { return stop }})
	if _, err := r.Next(); err != stop {
		t.Fatalf("err = %v, want stop", err)
	}
	if n := r.Faults(FaultGarbage); n != 1 {
		t.Errorf("Faults(garbage) = %d", n)
	}
}
