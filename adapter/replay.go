package adapter

import (
	"bufio"
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

// replaySweepEvery mirrors the daemon's sweep ticker in recording time, so
// a replay finalizes calls at the moments the live daemon would.
const replaySweepEvery = time.Second

// Replay feeds recorded streams through a fresh engine and calls emit for
// every final status, in order. Files ending in .ami hold raw AMI wire
// format; files ending in .jsonl (normally .ari.jsonl) hold one ARI event
// per line. With several files the events are merged by timestamp (see
// ReadRecordings). The engine is swept once a second of recording time, as
// the daemon does, and at the end far in the future so every call still
// open is finished (as incomplete). Errors name the file and the frame or
// line.
func Replay(cfg mapping.Config, files []string, emit func(mapping.CallStatus)) error {
	m := mapping.New(cfg)
	out := func(css []mapping.CallStatus) {
		for _, cs := range css {
			emit(cs)
		}
	}
	var lastSweep, last time.Time
	err := ReadRecordings(files, func(ev mapping.Event) error {
		if !ev.Time.IsZero() && ev.Kind != mapping.SourceUp {
			if lastSweep.IsZero() {
				lastSweep = ev.Time
			}
			if ev.Time.Sub(lastSweep) >= replaySweepEvery {
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
	if err != nil {
		return err
	}
	// Far enough for any TTL: every open call ends now.
	out(m.Sweep(last.Add(100 * 365 * 24 * time.Hour)))
	return nil
}

// ReadRecordings reads recorded streams and calls fn with their events in
// one order: by timestamp, on equal times AMI before ARI, then file order,
// then the order within a file. First comes a SourceUp for every source that
// has events, as the daemon sends when it connects. An error from fn stops
// the reading and is returned.
func ReadRecordings(files []string, fn func(mapping.Event) error) error {
	if len(files) == 0 {
		return errors.New("replay: no files")
	}
	var streams []*recording
	defer func() {
		for _, s := range streams {
			s.close()
		}
	}()
	for i, name := range files {
		s, err := openRecording(name, i)
		if err != nil {
			return err
		}
		streams = append(streams, s)
	}

	// Prime every stream's head; a source counts as up from the first
	// event of any stream.
	var first time.Time
	for _, s := range streams {
		if err := s.advance(); err != nil {
			return err
		}
		if s.ok && (first.IsZero() || s.head.Time.Before(first)) {
			first = s.head.Time
		}
	}
	upSent := map[mapping.Source]bool{}
	for _, s := range streams {
		if s.ok && !upSent[s.source] {
			upSent[s.source] = true
			if err := fn(mapping.Event{Kind: mapping.SourceUp, Source: s.source, Name: s.source.String(), Time: first}); err != nil {
				return err
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
			return nil
		}
		if err := fn(next.head); err != nil {
			return err
		}
		if err := next.advance(); err != nil {
			return err
		}
	}
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
	n      uint64    // events read, for stable order
}

func openRecording(name string, order int) (*recording, error) {
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
	if r.source == mapping.SourceAMI {
		r.next = amiReader(name, f)
	} else {
		r.next = ariReader(name, f)
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
	r.n++
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

func amiReader(name string, f io.Reader) func() (mapping.Event, bool, error) {
	var cut uint64 // the frame the file ends inside
	rd := ami.NewEventReader(f, ami.EventOptions{OnFault: func(flt ami.Fault) error {
		if flt.Kind == ami.FaultTruncated {
			cut = flt.Frame
		}
		return nil
	}})
	return func() (mapping.Event, bool, error) {
		ev, err := rd.Next()
		switch {
		case err == io.EOF:
			return mapping.Event{}, false, nil
		case errors.Is(err, io.ErrUnexpectedEOF):
			return mapping.Event{}, false, fmt.Errorf("replay: %s: frame %d: truncated at end of file", name, cut)
		case err != nil:
			return mapping.Event{}, false, fmt.Errorf("replay: %s: %w", name, err)
		}
		return ev, true, nil
	}
}

func ariReader(name string, f io.Reader) func() (mapping.Event, bool, error) {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	line := uint64(0)
	var pending []mapping.Event
	return func() (mapping.Event, bool, error) {
		for len(pending) == 0 {
			if !sc.Scan() {
				if err := sc.Err(); err != nil {
					return mapping.Event{}, false, fmt.Errorf("replay: %s: line %d: %w", name, line+1, err)
				}
				return mapping.Event{}, false, nil
			}
			line++
			data := sc.Bytes()
			if len(strings.TrimSpace(string(data))) == 0 {
				continue
			}
			msg, err := ari.Decode(data, line)
			switch {
			case errors.Is(err, ari.ErrUnknownType):
				continue // nothing for the engine
			case err != nil:
				return mapping.Event{}, false, fmt.Errorf("replay: %s: line %d: %w", name, line, err)
			}
			evs := msg.Events
			pending = evs
		}
		ev := pending[0]
		pending = pending[1:]
		return ev, true, nil
	}
}
