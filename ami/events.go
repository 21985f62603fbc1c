package ami

import (
	"errors"
	"fmt"
	"io"

	"github.com/callstatus/callstatus/mapping"
)

// FaultKind names what was wrong with a piece of input the EventReader
// skipped.
type FaultKind int

const (
	// FaultOversized: a frame over the size limit, skipped whole.
	FaultOversized FaultKind = iota + 1
	// FaultMalformed: lines without a colon in an event or a response,
	// skipped; the rest of their frame is kept.
	FaultMalformed
	// FaultGarbage: a frame with neither an Event nor a Response header
	// (bytes that are not AMI), skipped whole.
	FaultGarbage
	// FaultNoID: an event the engine uses that names no channel (no
	// Uniqueid), skipped. A VarSet of a global variable and a UserEvent
	// sent by an AMI action name none either, legitimately: they are not
	// faults.
	FaultNoID
	// FaultDuplicate: a timestamped event frame byte for byte equal to one
	// of the last dupWindow events, skipped. Asterisk stamps events to the
	// microsecond, so a repeat is a copy, never a new fact.
	FaultDuplicate
	// FaultTruncated: the stream ended inside a frame; the partial frame
	// is dropped, never translated into half an event.
	FaultTruncated
)

var faultNames = [...]string{
	FaultOversized: "oversized", FaultMalformed: "malformed", FaultGarbage: "garbage",
	FaultNoID: "no_id", FaultDuplicate: "duplicate", FaultTruncated: "truncated",
}

// String returns the fault's name (oversized, malformed, garbage, no_id,
// duplicate, truncated).
func (k FaultKind) String() string {
	if k > 0 && int(k) < len(faultNames) {
		return faultNames[k]
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// Fault is one piece of bad input the EventReader skipped.
type Fault struct {
	Kind FaultKind
	// Frame is the frame's number in the stream, counting from 1 (the
	// Seq its event would have had).
	Frame uint64
	// Event is the frame's AMI event name, when it had one.
	Event string
	// Lines counts the lines without a colon (FaultMalformed, FaultGarbage).
	Lines int
	// Detail says what was wrong.
	Detail string
}

func (f Fault) Error() string {
	if f.Event != "" {
		return fmt.Sprintf("frame %d (%s): %s: %s", f.Frame, f.Event, f.Kind, f.Detail)
	}
	return fmt.Sprintf("frame %d: %s: %s", f.Frame, f.Kind, f.Detail)
}

// EventOptions shape an EventReader.
type EventOptions struct {
	// MaxFrameSize bounds one frame; 0 means DefaultMaxFrameSize.
	MaxFrameSize int
	// OnFault is called for every piece of bad input skipped. An error it
	// returns stops Next with that error (a strict replay); nil, or a nil
	// OnFault, skips the input and reads on.
	OnFault func(Fault) error
	// OnFrame is called for every frame read (not for skipped oversized
	// or truncated ones), with the event it became when translated is
	// true. It is for counters and must not keep the frame; it may fill
	// the event's zero Time (the live source stamps the receive time).
	OnFrame func(f *Frame, ev *mapping.Event, translated bool)
}

// dupWindow is how many recent timestamped events a duplicate is looked
// for among.
const dupWindow = 64

// recentEvent is one entry of the duplicate window.
type recentEvent struct {
	seq uint64
	at  int64 // event time, Unix ns
	raw string
}

// EventReader reads mapping events from an AMI byte stream: the one path
// from AMI wire bytes to the engine, shared by the live Source, replay, the
// tests and the benchmarks, so bad input is treated alike everywhere.
// Frames that are not events the engine uses are skipped; bad input is
// skipped, counted and handed to OnFault (see FaultKind).
type EventReader struct {
	rd  *Reader
	opt EventOptions
	// f and ev are the frame being read and its event, kept here so
	// handing them to OnFrame costs no allocation.
	f  Frame
	ev mapping.Event
	// headers of the last frame translated, for the next to reuse: events
	// hold substrings of a frame's text, never its header array.
	headers []Header

	recent  [dupWindow]recentEvent
	nrecent int
	latest  int64 // the latest event time seen, Unix ns

	faults [len(faultNames)]uint64
}

// NewEventReader returns an EventReader on r (an AMI stream after the
// login, or a recording from its first byte: a banner and responses are
// skipped).
func NewEventReader(r io.Reader, opt EventOptions) *EventReader {
	return newEventReader(NewReader(r), opt)
}

func newEventReader(rd *Reader, opt EventOptions) *EventReader {
	rd.MaxFrameSize = opt.MaxFrameSize
	return &EventReader{rd: rd, opt: opt}
}

// Frames returns how many frames were read so far, skipped ones included.
func (e *EventReader) Frames() uint64 { return e.rd.Frames() }

// Faults returns how many faults of kind k were skipped so far; for
// FaultMalformed, how many lines.
func (e *EventReader) Faults(k FaultKind) uint64 {
	if k > 0 && int(k) < len(e.faults) {
		return e.faults[k]
	}
	return 0
}

// fault counts f and hands it to OnFault.
func (e *EventReader) fault(f Fault) error {
	if f.Kind == FaultMalformed {
		e.faults[f.Kind] += uint64(f.Lines)
	} else {
		e.faults[f.Kind]++
	}
	if e.opt.OnFault == nil {
		return nil
	}
	return e.opt.OnFault(f)
}

// Next returns the next event the engine uses. It returns io.EOF at a
// clean end of the stream, an error wrapping io.ErrUnexpectedEOF when the
// stream ends inside a frame (after a FaultTruncated), the error of
// OnFault when it returns one, and the underlying reader's errors.
func (e *EventReader) Next() (mapping.Event, error) {
	for {
		var err error
		e.f, err = e.rd.readFrameReusing(e.headers)
		e.headers = nil
		f := &e.f
		if err != nil {
			switch {
			case errors.Is(err, ErrFrameTooLarge):
				if ferr := e.fault(Fault{Kind: FaultOversized, Frame: e.rd.Frames(), Detail: err.Error()}); ferr != nil {
					return mapping.Event{}, ferr
				}
				continue
			case errors.Is(err, io.ErrUnexpectedEOF):
				n := f.Seq
				if n == 0 {
					n = e.rd.Frames() + 1
				}
				flt := Fault{Kind: FaultTruncated, Frame: n, Event: f.Event(), Detail: "the stream ends inside the frame; dropped"}
				if ferr := e.fault(flt); ferr != nil {
					return mapping.Event{}, ferr
				}
				return mapping.Event{}, fmt.Errorf("ami: frame %d: %w", n, err)
			}
			return mapping.Event{}, err
		}
		var ok bool
		var ferr error
		e.ev, ok, ferr = e.event(f)
		if ferr != nil {
			return mapping.Event{}, ferr
		}
		if e.opt.OnFrame != nil {
			e.opt.OnFrame(f, &e.ev, ok)
		}
		e.headers = f.Headers
		if ok {
			return e.ev, nil
		}
	}
}

// event translates one frame, reporting its faults.
func (e *EventReader) event(f *Frame) (mapping.Event, bool, error) {
	name := f.Event()
	if name == "" && !f.has("Response") {
		if len(f.Headers) == 0 && f.Malformed == 0 {
			return mapping.Event{}, false, nil
		}
		detail := fmt.Sprintf("%d line(s) without a colon; skipped", f.Malformed)
		if len(f.Headers) > 0 {
			detail = fmt.Sprintf("no Event or Response header (first %q), %d line(s) without a colon; skipped", f.Headers[0].Key, f.Malformed)
		}
		return mapping.Event{}, false, e.fault(Fault{Kind: FaultGarbage, Frame: f.Seq, Lines: f.Malformed, Detail: detail})
	}
	if f.Malformed > 0 {
		flt := Fault{Kind: FaultMalformed, Frame: f.Seq, Event: name, Lines: f.Malformed,
			Detail: fmt.Sprintf("%d line(s) without a colon skipped", f.Malformed)}
		if err := e.fault(flt); err != nil {
			return mapping.Event{}, false, err
		}
	}
	if name == "" {
		return mapping.Event{}, false, nil // a response
	}
	ev, ok := Translate(f)
	if !ok {
		if kind, used := eventKind(name); used && kind != mapping.UserEvent && kind != mapping.VarSet {
			flt := Fault{Kind: FaultNoID, Frame: f.Seq, Event: name, Detail: "names no channel (no Uniqueid); skipped"}
			return mapping.Event{}, false, e.fault(flt)
		}
		return ev, false, nil
	}
	if ev.Time.IsZero() {
		return ev, true, nil // without timestamps a repeat may be real (a dialplan loop)
	}
	at := ev.Time.UnixNano()
	if at <= e.latest {
		// Only an event no later than the latest can repeat one.
		for i := range min(e.nrecent, dupWindow) {
			r := &e.recent[i]
			if r.at == at && r.raw == f.raw {
				flt := Fault{Kind: FaultDuplicate, Frame: f.Seq, Event: name, Detail: fmt.Sprintf("repeats frame %d byte for byte; skipped", r.seq)}
				return mapping.Event{}, false, e.fault(flt)
			}
		}
	} else {
		e.latest = at
	}
	e.recent[e.nrecent%dupWindow] = recentEvent{seq: f.Seq, at: at, raw: f.raw}
	e.nrecent++
	return ev, true, nil
}

// has reports whether the frame has a header named key.
func (f *Frame) has(key string) bool {
	_, ok := f.Lookup(key)
	return ok
}
