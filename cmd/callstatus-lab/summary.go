package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/callstatus/callstatus/lab"
	"github.com/callstatus/callstatus/lab/answerkey"
	"github.com/callstatus/callstatus/mapping"
)

// allStatuses are the eight outcomes the demo must show, in table order.
var allStatuses = []struct {
	cat mapping.Category
	st  mapping.Status
}{
	{mapping.Outbound, mapping.Connected}, {mapping.Outbound, mapping.VoicemailDropped}, {mapping.Outbound, mapping.Canceled},
	{mapping.Inbound, mapping.Answered}, {mapping.Inbound, mapping.Missed},
	{mapping.Callcenter, mapping.Handled}, {mapping.Callcenter, mapping.Abandoned}, {mapping.Callcenter, mapping.Timeout},
}

// tally pairs published statuses with the scenario calls that caused them
// and keeps the score. Scenarios run concurrently, so a status is matched
// by its numbers against the calls of every scenario started so far: both
// caller and called number beat either one, and the earliest started
// scenario wins a tie (the SIP scenarios share caller 101 and run one
// after another).
type tally struct {
	mu         sync.Mutex
	order      []string // scenario names in catalogue order
	calls      map[string][]*expected
	started    []string
	unexpected []mapping.CallStatus
	counts     map[string]int // "category/status"
	failed     map[string]string
	// known lists the calls the answer key says the engine publishes no
	// status of its own for (answerkey.Missing), with the reason: they are
	// shown, not waited for.
	known []string
}

type expected struct {
	scenario string
	call     lab.Call
	got      *mapping.CallStatus
}

func newTally(scenarios []lab.Scenario) *tally {
	t := &tally{calls: map[string][]*expected{}, counts: map[string]int{}, failed: map[string]string{}}
	for _, s := range scenarios {
		t.order = append(t.order, s.Name)
		for _, c := range s.Calls {
			if why, missing := c.KnownWrong[answerkey.Missing]; missing {
				t.known = append(t.known, s.Name+": "+c.Description+" — "+why)
				continue
			}
			t.calls[s.Name] = append(t.calls[s.Name], &expected{scenario: s.Name, call: c})
		}
	}
	return t
}

// start says a scenario's calls are being placed: its statuses may come.
func (t *tally) start(name string) {
	t.mu.Lock()
	t.started = append(t.started, name)
	t.mu.Unlock()
}

// fail records that a scenario could not be driven (its error).
func (t *tally) fail(name string, err error) {
	t.mu.Lock()
	t.failed[name] = err.Error()
	t.mu.Unlock()
}

// observe files one published status; it returns the expected call it
// matched (nil when it matched none) and whether it is what was expected.
func (t *tally) observe(cs mapping.CallStatus) (*expected, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counts[string(cs.Category)+"/"+string(cs.Status)]++
	var best *expected
	bestScore := 0
	for _, name := range t.started {
		for _, e := range t.calls[name] {
			if e.got != nil {
				continue
			}
			score := 0
			if cs.From.Number == e.call.From {
				score++
			}
			if e.call.To != "" && cs.To.Number == e.call.To {
				score++
			}
			if score > bestScore {
				best, bestScore = e, score
			}
		}
	}
	if best == nil {
		t.unexpected = append(t.unexpected, cs)
		return nil, false
	}
	got := cs
	best.got = &got
	return best, best.ok()
}

// ok: the category and status are the expected ones, so is the reason when
// the scenario names one, and the status is complete.
func (e *expected) ok() bool {
	if e.got == nil {
		return false
	}
	g := e.got
	return string(g.Category) == e.call.Category && string(g.Status) == e.call.Status &&
		(e.call.Reason == "" || g.Reason == e.call.Reason) && !g.Incomplete
}

// pending is the number of expected calls of started scenarios that have
// no status yet.
func (t *tally) pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, name := range t.started {
		for _, e := range t.calls[name] {
			if e.got == nil {
				n++
			}
		}
	}
	return n
}

// result is the verdict: every scenario matched, all eight statuses seen,
// nothing unexpected.
type result struct {
	Scenarios, Matched int
	Calls, Statuses    int
	MissingStatuses    []string // of the eight, never seen
	Unexpected         int
}

func (r result) pass() bool {
	return r.Matched == r.Scenarios && len(r.MissingStatuses) == 0 && r.Unexpected == 0 && r.Scenarios > 0
}

func (t *tally) result() result {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := result{Scenarios: len(t.order), Unexpected: len(t.unexpected)}
	for _, name := range t.order {
		ok := t.failed[name] == ""
		for _, e := range t.calls[name] {
			r.Calls++
			ok = ok && e.ok()
		}
		if ok {
			r.Matched++
		}
	}
	for _, n := range t.counts {
		r.Statuses += n
	}
	for _, s := range allStatuses {
		if t.counts[string(s.cat)+"/"+string(s.st)] == 0 {
			r.MissingStatuses = append(r.MissingStatuses, string(s.cat)+"/"+string(s.st))
		}
	}
	return r
}

// report writes the summary: counts per status, then every scenario's
// expected and actual outcome, then the verdict.
func (t *tally) report(w io.Writer) result {
	r := t.result()
	t.mu.Lock()
	defer t.mu.Unlock()

	fmt.Fprintf(w, "\n%-11s %-18s %5s\n", "CATEGORY", "STATUS", "CALLS")
	for _, s := range allStatuses {
		n := t.counts[string(s.cat)+"/"+string(s.st)]
		mark := ""
		if n == 0 {
			mark = "  ← never seen"
		}
		fmt.Fprintf(w, "%-11s %-18s %5d%s\n", s.cat, s.st, n, mark)
	}
	var other []string
	for k := range t.counts {
		known := false
		for _, s := range allStatuses {
			known = known || k == string(s.cat)+"/"+string(s.st)
		}
		if !known {
			other = append(other, k)
		}
	}
	sort.Strings(other)
	for _, k := range other {
		cat, st, _ := strings.Cut(k, "/")
		fmt.Fprintf(w, "%-11s %-18s %5d  ← not a status of the model\n", cat, st, t.counts[k])
	}

	fmt.Fprintf(w, "\n%-29s %-33s %-33s\n", "SCENARIO", "EXPECTED", "GOT")
	for _, name := range t.order {
		for i, e := range t.calls[name] {
			label := name
			if i > 0 {
				label = "  ″"
			}
			want := e.call.Category + "/" + e.call.Status
			if e.call.Reason != "" {
				want += " " + e.call.Reason
			}
			got, mark := "—", "✗"
			switch {
			case e.got != nil:
				got = string(e.got.Category) + "/" + string(e.got.Status)
				if e.got.Reason != "" {
					got += " " + e.got.Reason
				}
				if e.got.Incomplete {
					got += " incomplete"
				}
				if e.ok() {
					mark = "✓"
				}
			case t.failed[name] != "":
				got = "driver failed"
			}
			fmt.Fprintf(w, "%-29s %-33s %-33s %s\n", clip(label, 29), want, got, mark)
		}
	}
	for _, cs := range t.unexpected {
		fmt.Fprintf(w, "%-29s %-33s %-33s ✗\n", "(unexpected)", "—",
			fmt.Sprintf("%s/%s %s %s→%s", cs.Category, cs.Status, cs.Reason, cs.From.Number, cs.To.Number))
	}
	for _, name := range t.order {
		if msg := t.failed[name]; msg != "" {
			fmt.Fprintf(w, "driver: %s: %s\n", name, firstLine(msg))
		}
	}

	for _, k := range t.known {
		fmt.Fprintf(w, "known, no status of its own: %s\n", k)
	}

	fmt.Fprintf(w, "\n%d/%d scenarios as expected; %d statuses for %d calls; %d of 8 statuses seen",
		r.Matched, r.Scenarios, r.Statuses, r.Calls, 8-len(r.MissingStatuses))
	if len(r.MissingStatuses) > 0 {
		fmt.Fprintf(w, " (missing: %s)", strings.Join(r.MissingStatuses, ", "))
	}
	if r.Unexpected > 0 {
		fmt.Fprintf(w, "; %d unexpected", r.Unexpected)
	}
	if r.pass() {
		fmt.Fprintln(w, " — PASS")
	} else {
		fmt.Fprintln(w, " — FAIL")
	}
	return r
}

func clip(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
