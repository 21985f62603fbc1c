package bench

import (
	"bytes"
	"io"
	"runtime"
	"sync"
	"testing"

	"github.com/callstatus/callstatus/ami"
	"github.com/callstatus/callstatus/bench/synth"
	"github.com/callstatus/callstatus/lab"
	"github.com/callstatus/callstatus/mapping"
)

const recordingsDir = "../testdata/recordings"

var (
	recsOnce sync.Once
	recs     []*synth.Recording
	recsErr  error
)

func recordings(tb testing.TB) []*synth.Recording {
	tb.Helper()
	recsOnce.Do(func() { recs, recsErr = synth.LoadDir(recordingsDir) })
	if recsErr != nil {
		tb.Fatal(recsErr)
	}
	return recs
}

func generate(tb testing.TB, opt synth.Options) *synth.Stream {
	tb.Helper()
	st, err := synth.Generate(recordings(tb), opt)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// translateAll reads and translates a whole stream with the AMI source's
// EventReader, behind a SourceUp. Any fault in the stream fails.
func translateAll(tb testing.TB, stream []byte) []mapping.Event {
	tb.Helper()
	evs := []mapping.Event{{Kind: mapping.SourceUp, Source: mapping.SourceAMI, Name: "ami"}}
	rd := ami.NewEventReader(bytes.NewReader(stream), ami.EventOptions{OnFault: func(f ami.Fault) error { return f }})
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		if len(evs) == 1 {
			evs[0].Time = ev.Time
		}
		evs = append(evs, ev)
	}
	return evs
}

// engineCopies / engineConcurrency: about 11,000 calls, 2,000 open at once
// in steady state.
const (
	engineCopies      = 10000
	engineConcurrency = 2000
)

// BenchmarkEngine applies a pre-translated multiplied stream to a fresh
// engine on one goroutine: the engine's share of the event path.
func BenchmarkEngine(b *testing.B) {
	st := generate(b, synth.Options{Copies: engineCopies, Concurrency: engineConcurrency})
	evs := translateAll(b, st.Bytes)
	cfg := lab.Rules()
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	statuses := 0
	for b.Loop() {
		m := mapping.New(cfg)
		for i := range evs {
			statuses += len(m.Apply(evs[i]))
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	n := float64(b.N) * float64(len(evs))
	if want := b.N * st.Calls; statuses != want {
		b.Fatalf("%d statuses, want %d", statuses, want)
	}
	b.ReportMetric(n/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/event")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/n, "B/event")
	b.ReportMetric(float64(st.MeanOpen), "open-calls")
}

// BenchmarkEngineMemory reads an open-only stream (every call left in
// progress) through the AMI EventReader and the engine, then weighs the heap:
// what the engine keeps per active call, including the frames its strings
// pin.
func BenchmarkEngineMemory(b *testing.B) {
	st := generate(b, synth.Options{Copies: engineCopies, Concurrency: engineConcurrency, OpenOnly: true})
	cfg := lab.Rules()
	var perCall float64
	var active int
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := mapping.New(cfg)
		m.Apply(mapping.Event{Kind: mapping.SourceUp, Source: mapping.SourceAMI, Name: "ami"})
		rd := ami.NewEventReader(bytes.NewReader(st.Bytes), ami.EventOptions{OnFault: func(f ami.Fault) error { return f }})
		for {
			ev, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			m.Apply(ev)
		}
		rd = nil
		runtime.GC()
		runtime.ReadMemStats(&after)
		active = m.Active()
		perCall = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(active)
		runtime.KeepAlive(m)
	}
	b.ReportMetric(perCall, "B/active-call")
	b.ReportMetric(float64(active), "active-calls")
}
