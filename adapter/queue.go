package adapter

import (
	"log/slog"

	"github.com/callstatus/callstatus/mapping"
)

// queueChanSize is the buffer of the channel sources write into. The pump
// empties it into batches, so it only has to absorb the moments the pump
// goroutine is not scheduled.
const queueChanSize = 4096

// Batch sizes: the engine gets whatever has arrived, in batches of at most
// maxBatch events, so a busy stream costs two channel operations per batch
// rather than per event, and a quiet one still hands over each event at
// once.
const (
	minBatch = 16
	maxBatch = 256
)

// eventQueue is an unbounded FIFO between the source goroutines and the
// engine. A source must never wait on the engine (Asterisk would drop the
// AMI connection), so when the engine falls behind the queue grows instead
// of dropping, and the growth is counted and logged.
type eventQueue struct {
	in    chan mapping.Event
	out   chan []mapping.Event
	stats *Stats
	log   *slog.Logger
}

func newEventQueue(stats *Stats, log *slog.Logger) *eventQueue {
	q := &eventQueue{
		in:    make(chan mapping.Event, queueChanSize),
		out:   make(chan []mapping.Event),
		stats: stats,
		log:   log,
	}
	go q.pump()
	return q
}

// In is where sources send; Close it once every source has stopped.
func (q *eventQueue) In() chan<- mapping.Event { return q.in }

// Out yields batches of events in order and is closed after In is closed
// and drained. A batch belongs to the receiver.
func (q *eventQueue) Out() <-chan []mapping.Event { return q.out }

// Close ends input; the pump delivers what is buffered, then closes Out.
func (q *eventQueue) Close() { close(q.in) }

func (q *eventQueue) pump() {
	var (
		full   [][]mapping.Event // batches waiting for the engine, oldest first
		cur    []mapping.Event   // the batch being filled
		queued int64             // events in full and cur
		in     = q.in
		warnAt = int64(queueChanSize)
	)
	for {
		var out chan []mapping.Event
		var head []mapping.Event
		switch {
		case len(full) > 0:
			out, head = q.out, full[0]
		case len(cur) > 0:
			out, head = q.out, cur
		case in == nil:
			close(q.out)
			return
		}
		select {
		case ev, ok := <-in:
			if !ok {
				in = nil
				continue
			}
			n := int64(0)
			for {
				if cur == nil {
					// Size the batch by what is already waiting, so a
					// trickle does not allocate maxBatch events each.
					cur = make([]mapping.Event, 0, min(max(len(in)+1, minBatch), maxBatch))
				}
				cur = append(cur, ev)
				n++
				if len(cur) == cap(cur) {
					full = append(full, cur)
					cur = nil
				}
				if len(in) == 0 || n >= maxBatch {
					break
				}
				if ev, ok = <-in; !ok {
					in = nil
					break
				}
			}
			q.stats.EventsIn.Add(uint64(n))
			queued += n
			q.stats.QueueDepth.Store(queued)
			storeMax(&q.stats.QueueMaxDepth, queued)
			if queued >= warnAt {
				// Log at each doubling so a slow engine is visible
				// without a line per event.
				q.log.Warn("engine falling behind: event queue growing", "depth", queued)
				warnAt *= 2
			}
		case out <- head:
			if len(full) > 0 {
				full[0] = nil
				full = full[1:]
				if len(full) == 0 {
					full = nil
				}
			} else {
				cur = nil
			}
			queued -= int64(len(head))
			q.stats.QueueDepth.Store(queued)
			if queued == 0 {
				warnAt = queueChanSize
			}
		}
	}
}
