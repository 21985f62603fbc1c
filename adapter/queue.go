package adapter

import (
	"log/slog"

	"github.com/callstatus/callstatus/mapping"
)

// queueChanSize is the buffer of the channel sources write into. The pump
// empties it into an unbounded slice, so it only has to absorb the moments
// the pump goroutine is not scheduled.
const queueChanSize = 4096

// eventQueue is an unbounded FIFO between the source goroutines and the
// engine. A source must never wait on the engine (Asterisk would drop the
// AMI connection), so when the engine falls behind the queue grows instead
// of dropping, and the growth is counted and logged.
type eventQueue struct {
	in    chan mapping.Event
	out   chan mapping.Event
	stats *Stats
	log   *slog.Logger
}

func newEventQueue(stats *Stats, log *slog.Logger) *eventQueue {
	q := &eventQueue{
		in:    make(chan mapping.Event, queueChanSize),
		out:   make(chan mapping.Event),
		stats: stats,
		log:   log,
	}
	go q.pump()
	return q
}

// In is where sources send; Close it once every source has stopped.
func (q *eventQueue) In() chan<- mapping.Event { return q.in }

// Out yields events in order and is closed after In is closed and drained.
func (q *eventQueue) Out() <-chan mapping.Event { return q.out }

// Close ends input; the pump delivers what is buffered, then closes Out.
func (q *eventQueue) Close() { close(q.in) }

func (q *eventQueue) pump() {
	var buf []mapping.Event
	in := q.in
	warnAt := int64(queueChanSize)
	for {
		if in == nil && len(buf) == 0 {
			close(q.out)
			return
		}
		var out chan mapping.Event
		var head mapping.Event
		if len(buf) > 0 {
			out, head = q.out, buf[0]
		}
		select {
		case ev, ok := <-in:
			if !ok {
				in = nil
				continue
			}
			buf = append(buf, ev)
			q.stats.EventsIn.Add(1)
			depth := int64(len(buf))
			q.stats.QueueDepth.Store(depth)
			storeMax(&q.stats.QueueMaxDepth, depth)
			if depth >= warnAt {
				// Log at each doubling so a slow engine is visible
				// without a line per event.
				q.log.Warn("engine falling behind: event queue growing", "depth", depth)
				warnAt *= 2
			}
		case out <- head:
			buf[0] = mapping.Event{} // let the GC have the strings
			buf = buf[1:]
			q.stats.QueueDepth.Store(int64(len(buf)))
			if len(buf) == 0 {
				buf = nil
				warnAt = queueChanSize
			}
		}
	}
}
