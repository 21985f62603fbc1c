// Package replay feeds recorded AMI and ARI streams through a fresh engine,
// offline. It decodes with the daemon's own functions (ami.EventReader,
// ari.Decode), so a recording is read the way its socket was: bad input is
// reported and skipped, never the end of the replay (unless Strict). It
// imports only ami, ari, cel and mapping.
package replay

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/callstatus/callstatus/ami"
	"github.com/callstatus/callstatus/ari"
	"github.com/callstatus/callstatus/mapping"
)

var (
	// ErrBadInput is wrapped by every Problem: a frame or line that is not
	// what Asterisk writes.
	ErrBadInput = errors.New("bad input")
	// ErrNoTimestamps: an AMI recording without Timestamp headers cannot
	// be merged with ARI, whose events are ordered by time.
	ErrNoTimestamps = errors.New("AMI events carry no Timestamp")
)

// DefaultSweepEvery is the sweep interval when Options.SweepEvery is zero:
// the daemon's default engine.sweep_interval.
const DefaultSweepEvery = time.Second

// Options shape a replay.
type Options struct {
	// Rules configure the engine.
	Rules mapping.Config
	// SweepEvery is how often, in recording time, the engine is swept,
	// as the daemon's engine.sweep_interval ticker does; 0 means
	// DefaultSweepEvery.
	SweepEvery time.Duration
	// Strict makes the first bad frame or line fatal; otherwise each is
	// reported, counted and skipped.
	Strict bool
	// Report is called for every bad frame or line; nil discards.
	Report func(Problem)
}

// Problem is one bad frame (AMI) or line (ARI) of a recording.
type Problem struct {
	File  string
	Frame uint64 // AMI frame number, from 1; 0 for ARI
	Line  uint64 // ARI line number, from 1; 0 for AMI
	// Kind names the fault: for AMI an ami.FaultKind (oversized,
	// malformed, garbage, no_id, duplicate, truncated), for ARI
	// undecodable, oversized or truncated (a last line that does not
	// decode and has no newline).
	Kind   string
	Detail string
}

func (p Problem) Error() string {
	where := fmt.Sprintf("line %d", p.Line)
	if p.Line == 0 {
		where = fmt.Sprintf("frame %d", p.Frame)
	}
	return fmt.Sprintf("%s: %s: %s: %s", p.File, where, p.Kind, p.Detail)
}

// Unwrap makes every Problem match ErrBadInput.
func (p Problem) Unwrap() error { return ErrBadInput }

// Summary counts what a replay read.
type Summary struct {
	Events   int // mapping events fed to the engine, SourceUp included
	Statuses int // final statuses emitted
	// Bad counts the bad frames and lines skipped, per file (an AMI frame
	// with lines without a colon counts once; its Problem says how many).
	Bad map[string]int
}

// BadTotal is the number of bad frames and lines in all files.
func (s Summary) BadTotal() int {
	n := 0
	for _, v := range s.Bad {
		n += v
	}
	return n
}

// Run feeds the recordings through a fresh engine and calls emit for every
// final status, in order. Files ending in .ami hold raw AMI wire bytes;
// files ending in .jsonl (normally .ari.jsonl) one ARI event per line. With
// several files the events are merged by time (see Read). The engine is
// swept every SweepEvery of recording time and at the end far in the
// future, so every call still open is finished (as incomplete).
//
// CEL exports (*.csv) and queue_log files are Asterisk's own records of the
// same calls: they are replayed together, through cel's translator, and
// never mixed with AMI or ARI recordings.
func Run(opt Options, files []string, emit func(mapping.CallStatus)) (Summary, error) {
	if n := countRecords(files); n > 0 {
		if n < len(files) {
			return Summary{}, errors.New("replay: CEL exports and queue_log files describe the calls AMI and ARI recordings do: replay them apart")
		}
		return runRecords(opt, files, emit)
	}
	every := opt.SweepEvery
	if every <= 0 {
		every = DefaultSweepEvery
	}
	m := mapping.New(opt.Rules)
	statuses := 0
	out := func(css []mapping.CallStatus) {
		for _, cs := range css {
			statuses++
			emit(cs)
		}
	}
	var lastSweep, last time.Time
	sum, err := Read(opt, files, func(ev mapping.Event) error {
		if !ev.Time.IsZero() && ev.Kind != mapping.SourceUp {
			if lastSweep.IsZero() {
				lastSweep = ev.Time
			}
			if ev.Time.Sub(lastSweep) >= every {
				out(m.Sweep(ev.Time))
				lastSweep = ev.Time
			}
			if ev.Time.After(last) {
				last = ev.Time
			}
		}
		out(m.Apply(ev))
		return nil
	})
	if err == nil {
		// Far enough for any TTL: every open call ends now.
		out(m.Sweep(last.Add(100 * 365 * 24 * time.Hour)))
	}
	sum.Statuses = statuses
	return sum, err
}

func countRecords(files []string) int {
	n := 0
	for _, f := range files {
		if isRecords(f) {
			n++
		}
	}
	return n
}

// Read reads recordings and calls fn with their events in one order: by
// time, on equal times AMI before ARI, then file order, then the order
// within a file. First comes a SourceUp for every source that has events,
// as the daemon sends when it connects. Bad frames and lines go to
// opt.Report and are skipped (with opt.Strict the first one is returned as
// the error). An AMI recording without timestamps is refused next to an
// ARI one (ErrNoTimestamps). An error from fn stops the reading and is
// returned.
func Read(opt Options, files []string, fn func(mapping.Event) error) (Summary, error) {
	sum := Summary{Bad: map[string]int{}}
	if len(files) == 0 {
		return sum, errors.New("replay: no files")
	}
	var streams []*recording
	defer func() {
		for _, s := range streams {
			s.close()
		}
	}()
	for i, name := range files {
		s, err := openRecording(name, i, &opt, &sum)
		if err != nil {
			return sum, err
		}
		streams = append(streams, s)
	}

	// Prime every stream's head; a source counts as up from the first
	// event of any stream.
	var first time.Time
	for _, s := range streams {
		if err := s.advance(); err != nil {
			return sum, err
		}
		if s.ok && !s.head.Time.IsZero() && (first.IsZero() || s.head.Time.Before(first)) {
			first = s.head.Time
		}
	}
	if err := checkTimes(streams); err != nil {
		return sum, err
	}
	upSent := map[mapping.Source]bool{}
	for _, s := range streams {
		if s.ok && !upSent[s.source] {
			upSent[s.source] = true
			sum.Events++
			if err := fn(mapping.Event{Kind: mapping.SourceUp, Source: s.source, Name: s.source.String(), Time: first}); err != nil {
				return sum, err
			}
		}
	}
	for {
		var next *recording
		for _, s := range streams {
			if s.ok && (next == nil || s.before(next)) {
				next = s
			}
		}
		if next == nil {
			return sum, nil
		}
		sum.Events++
		if err := fn(next.head); err != nil {
			return sum, err
		}
		if err := next.advance(); err != nil {
			return sum, err
		}
	}
}

// checkTimes refuses an AMI recording made without timestampevents next to
// an ARI one: without times there is no order between the two files, and a
// call seen first whole on AMI, then whole on ARI, is reported twice.
func checkTimes(streams []*recording) error {
	var ariFile string
	for _, s := range streams {
		if s.ok && s.source == mapping.SourceARI {
			ariFile = s.name
		}
	}
	if ariFile == "" {
		return nil
	}
	for _, s := range streams {
		if s.ok && s.source == mapping.SourceAMI && s.head.Time.IsZero() {
			return fmt.Errorf("replay: %s: %w, so it cannot be merged with %s by time: record AMI with timestampevents = yes in manager.conf, or replay the AMI file alone", s.name, ErrNoTimestamps, ariFile)
		}
	}
	return nil
}

// recording is one file being read, with its next event in head.
type recording struct {
	name   string
	order  int
	source mapping.Source
	f      *os.File
	next   func() (mapping.Event, bool, error) // event, more, error
	head   mapping.Event
	ok     bool
	last   time.Time // the last timestamp seen, for events without one
}

func openRecording(name string, order int, opt *Options, sum *Summary) (*recording, error) {
	r := &recording{name: name, order: order}
	switch {
	case strings.HasSuffix(name, ".ami"):
		r.source = mapping.SourceAMI
	case strings.HasSuffix(name, ".jsonl"):
		r.source = mapping.SourceARI
	default:
		return nil, fmt.Errorf("replay: %s: unknown recording type (want *.ami or *.ari.jsonl)", name)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	r.f = f
	bad := func(p Problem) error {
		p.File = name
		sum.Bad[name]++
		if opt.Report != nil {
			opt.Report(p)
		}
		if opt.Strict {
			return fmt.Errorf("replay: %w", p)
		}
		return nil
	}
	if r.source == mapping.SourceAMI {
		r.next = amiReader(f, bad)
	} else {
		r.next = ariReader(f, bad)
	}
	return r, nil
}

func (r *recording) close() { r.f.Close() }

// advance loads the next event into head; ok turns false at the end.
func (r *recording) advance() error {
	ev, more, err := r.next()
	if err != nil {
		return err
	}
	r.ok = more
	if !more {
		return nil
	}
	// An event without a timestamp happened no earlier than the one
	// before it in the same stream.
	if ev.Time.IsZero() {
		ev.Time = r.last
	} else {
		r.last = ev.Time
	}
	r.head = ev
	return nil
}

// before orders heads: time, then AMI before ARI, then file order.
func (r *recording) before(o *recording) bool {
	if !r.head.Time.Equal(o.head.Time) {
		return r.head.Time.Before(o.head.Time)
	}
	if r.source != o.source {
		return r.source == mapping.SourceAMI
	}
	return r.order < o.order
}

// amiReader reads events with the AMI source's EventReader; every fault is
// a Problem.
func amiReader(f io.Reader, bad func(Problem) error) func() (mapping.Event, bool, error) {
	rd := ami.NewEventReader(f, ami.EventOptions{OnFault: func(flt ami.Fault) error {
		detail := flt.Detail
		if flt.Event != "" {
			detail = flt.Event + ": " + detail
		}
		return bad(Problem{Frame: flt.Frame, Kind: flt.Kind.String(), Detail: detail})
	}})
	return func() (mapping.Event, bool, error) {
		ev, err := rd.Next()
		switch {
		case err == nil:
			return ev, true, nil
		case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF):
			// A tail cut inside a frame was reported as a fault.
			return mapping.Event{}, false, nil
		case errors.Is(err, ErrBadInput):
			return mapping.Event{}, false, err
		}
		return mapping.Event{}, false, fmt.Errorf("replay: read: %w", err)
	}
}

// ariReader decodes one line at a time with ari.Decode, the live source's
// function for one websocket message. A line over ari.MaxMessageSize (which
// would close the websocket) or that does not decode is a Problem; a type
// ari/v6 does not know is skipped, as the source does.
func ariReader(f io.Reader, bad func(Problem) error) func() (mapping.Event, bool, error) {
	br := bufio.NewReaderSize(f, 64<<10)
	var line uint64
	var buf []byte
	var pending []mapping.Event
	return func() (mapping.Event, bool, error) {
		for len(pending) == 0 {
			data, oversized, err := readLine(br, buf[:0], ari.MaxMessageSize)
			buf = data
			if err != nil && err != io.EOF {
				return mapping.Event{}, false, fmt.Errorf("replay: line %d: %w", line+1, err)
			}
			if len(data) == 0 && !oversized && err == io.EOF {
				return mapping.Event{}, false, nil
			}
			line++
			switch {
			case oversized:
				p := Problem{Line: line, Kind: "oversized", Detail: fmt.Sprintf("more than %d bytes; skipped", ari.MaxMessageSize)}
				if err := bad(p); err != nil {
					return mapping.Event{}, false, err
				}
				continue
			case len(bytes.TrimSpace(data)) == 0:
				continue
			}
			msg, derr := ari.Decode(data, line)
			switch {
			case errors.Is(derr, ari.ErrUnknownType):
				continue // nothing for the engine
			case derr != nil:
				kind := "undecodable"
				if err == io.EOF {
					kind = "truncated" // the last line, without its newline
				}
				if err := bad(Problem{Line: line, Kind: kind, Detail: derr.Error()}); err != nil {
					return mapping.Event{}, false, err
				}
				continue
			}
			pending = msg.Events
		}
		ev := pending[0]
		pending = pending[1:]
		return ev, true, nil
	}
}

// readLine appends the next line (without its '\n') to buf. A line longer
// than limit is read to its end but not kept: oversized reports it. At the
// end of the stream it returns what is left with io.EOF.
func readLine(br *bufio.Reader, buf []byte, limit int) (line []byte, oversized bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !oversized {
			if len(buf)+len(chunk) > limit+1 {
				oversized, buf = true, buf[:0]
			} else {
				buf = append(buf, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimSuffix(buf, []byte("\n")), oversized, err
	}
}
