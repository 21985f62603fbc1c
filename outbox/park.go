package outbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/callstatus/callstatus/mapping"
)

// ParkedFile is the dead letter in the outbox directory: one JSON Parked
// per line, append only, fsynced before the status leaves the log.
const ParkedFile = "parked.jsonl"

// Parked is a status NATS refused for good (a subject the server does not
// let us publish on, a status over max_payload, a missing stream the
// daemon may not create), set aside so the statuses after it go out.
type Parked struct {
	ParkedAt time.Time          `json:"parked_at"`
	Reason   string             `json:"reason"`
	Attempts int                `json:"attempts"`
	Subject  string             `json:"subject,omitempty"`
	Status   mapping.CallStatus `json:"status"`
}

// Park moves the oldest status (the one Peek returned) to the dead letter
// and pops it. With a store the record is on disk (fsynced) before the
// status leaves the log; when the disk refuses it, it is kept in memory
// and the error returned (the status still leaves the line: it can never
// be published).
func (o *Outbox) Park(p Parked) error {
	o.mu.Lock()
	var err error
	if o.store != nil {
		err = o.store.park(p)
	} else {
		err = errors.New("outbox is not durable")
	}
	if err != nil {
		o.parkedMem = append(o.parkedMem, p)
	}
	o.stats.ParkedTotal.Add(1)
	o.stats.Parked.Store(int64(o.parked()))
	o.mu.Unlock()
	o.Pop()
	if o.store == nil {
		return nil // memory only by choice: nothing failed
	}
	return err
}

// Parked is how many statuses wait in the dead letter.
func (o *Outbox) Parked() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.parked()
}

func (o *Outbox) parked() int {
	n := len(o.parkedMem)
	if o.store != nil {
		n += o.store.parkedN
	}
	return n
}

// park appends p to the dead letter file and fsyncs it.
func (s *fileStore) park(p Parked) error {
	line, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("outbox: encode parked %s: %w", p.Status.CallID, err)
	}
	line = append(line, '\n')
	path := filepath.Join(s.dir, ParkedFile)
	_, statErr := os.Stat(path)
	f, err := s.fs.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("outbox: open %s: %w", ParkedFile, err)
	}
	defer f.Close()
	if statErr != nil {
		if err := s.fs.SyncDir(s.dir); err != nil {
			return fmt.Errorf("outbox: fsync %s after creating %s: %w", s.dir, ParkedFile, err)
		}
	}
	size, err := completeRecords(f)
	if err != nil {
		return fmt.Errorf("outbox: repair %s: %w", ParkedFile, err)
	}
	if n, err := s.fs.WriteAt(f, line, size); err != nil {
		if n > 0 {
			f.Truncate(size)
		}
		return fmt.Errorf("outbox: write %s: %w", ParkedFile, err)
	}
	if err := s.fs.Sync(f); err != nil {
		return fmt.Errorf("outbox: fsync %s: %w", ParkedFile, err)
	}
	s.parkedN++
	return nil
}

// ReadParked lists the dead letter in dir, oldest first (none when the
// file does not exist). A torn last line (a crash mid-write) is ignored.
func ReadParked(dir string) ([]Parked, error) {
	b, err := os.ReadFile(filepath.Join(dir, ParkedFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("outbox: read %s: %w", ParkedFile, err)
	}
	var out []Parked
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 64<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var p Parked
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			if !bytes.HasSuffix(b, []byte("\n")) && line == bytes.Count(b, []byte("\n"))+1 {
				break // the torn last line
			}
			return out, fmt.Errorf("outbox: %s line %d: %w", ParkedFile, line, err)
		}
		out = append(out, p)
	}
	return out, sc.Err()
}

// countParked counts the whole records of the dead letter in dir.
func countParked(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, ParkedFile))
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte("\n"))
}

// Requeue moves parked statuses back into the outbox in dir (to its end),
// those with the given call ids, or all when ids is empty, and returns
// the call ids it moved. The daemon must not be running on dir (the
// caller holds its lock). The statuses are on disk in the outbox before
// they leave the dead letter: a crash in between publishes one twice
// (dropped by the stream's dedupe), never loses one.
func Requeue(dir string, memMax int, ids []string, log func(p Parked)) ([]string, error) {
	all, err := ReadParked(dir)
	if err != nil {
		return nil, err
	}
	var move, keep []Parked
	for _, p := range all {
		if len(ids) == 0 || slices.Contains(ids, p.Status.CallID) {
			move = append(move, p)
		} else {
			keep = append(keep, p)
		}
	}
	for _, id := range ids {
		if !slices.ContainsFunc(move, func(p Parked) bool { return p.Status.CallID == id }) {
			return nil, fmt.Errorf("outbox: %s is not parked", id)
		}
	}
	if len(move) == 0 {
		return nil, nil
	}
	ob, err := Open(dir, memMax, nil, nil)
	if err != nil {
		return nil, err
	}
	var moved []string
	for _, p := range move {
		ob.Push(p.Status)
		moved = append(moved, p.Status.CallID)
		if log != nil {
			log(p)
		}
	}
	problem := ob.Problem()
	if err := ob.Release(); err != nil {
		return nil, err
	}
	if problem != "" {
		return nil, fmt.Errorf("outbox: requeue: %s", problem)
	}
	var buf bytes.Buffer
	for _, p := range keep {
		line, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("outbox: encode parked %s: %w", p.Status.CallID, err)
		}
		buf.Write(append(line, '\n'))
	}
	if err := writeAtomically(OS, dir, ParkedFile, buf.Bytes()); err != nil {
		return nil, err
	}
	return moved, nil
}
