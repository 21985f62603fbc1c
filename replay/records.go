package replay

import (
	"errors"
	"fmt"
	"time"

	"github.com/callstatus/callstatus/cel"
	"github.com/callstatus/callstatus/mapping"
)

// isRecords: a file of Asterisk's own records (a CEL export or a
// queue_log), which cel translates, not a stream recording.
func isRecords(name string) bool { return cel.IsCSV(name) || cel.IsQueueLog(name) }

// runRecords replays CEL exports and queue_log files through cel.ReadFiles
// and a fresh engine, sweeping as Run does. Evidence names the CEL rows and
// queue_log lines (cel:<id>:<type>, queue_log:<line>:<event>).
func runRecords(opt Options, files []string, emit func(mapping.CallStatus)) (Summary, error) {
	sum := Summary{Bad: map[string]int{}}
	res, err := cel.ReadFiles(files, nil, func(file string, line int64, err error) error {
		sum.Bad[file]++
		p := Problem{File: file, Line: uint64(line), Kind: "bad_record", Detail: err.Error()}
		if opt.Report != nil {
			opt.Report(p)
		}
		if opt.Strict {
			return fmt.Errorf("replay: %w", p)
		}
		return nil
	})
	if err != nil {
		var p Problem
		if errors.As(err, &p) {
			return sum, fmt.Errorf("replay: %w", p)
		}
		return sum, fmt.Errorf("replay: %w", err)
	}
	every := opt.SweepEvery
	if every <= 0 {
		every = DefaultSweepEvery
	}
	m := mapping.New(opt.Rules)
	out := func(css []mapping.CallStatus) {
		for _, cs := range css {
			res.Relabel(&cs)
			sum.Statuses++
			emit(cs)
		}
	}
	var lastSweep, last time.Time
	for _, ev := range res.Events {
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
		sum.Events++
		out(m.Apply(ev))
	}
	out(m.Sweep(last.Add(100 * 365 * 24 * time.Hour)))
	return sum, nil
}
