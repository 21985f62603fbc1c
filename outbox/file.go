package outbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callstatus/callstatus/mapping"
)

// The durable outbox is a segment log in its own directory:
//
//	00000000000000000001.seg  one JSON status per line, append only
//	00000000000000000002.seg  (a new segment every segmentMax bytes)
//	head                      "<segment> <offset>": the first status not yet acknowledged
//
// Push appends the status to the last segment with one write() before it
// returns, so a status the engine handed over survives the process dying;
// a syncer fsyncs at most syncEvery later (group commit), which bounds what
// a power cut can take. Pop (after the JetStream ack) only moves the head
// in memory; the syncer writes it and deletes segments wholly behind it.
// A crash may thus publish the last few acknowledged statuses again on the
// next start: the stream drops them by Nats-Msg-Id (the call id) within its
// duplicate window.
//
// Only the first memMax statuses are held decoded in memory; the rest wait
// on disk and are read back as the head moves, so an outage of any length
// costs disk, not memory.
const (
	segmentMax = 8 << 20
	syncEvery  = 50 * time.Millisecond
	headFile   = "head"
	segSuffix  = ".seg"
)

// filePos is a place in the log: segment number and byte offset.
type filePos struct {
	seg int64
	off int64
}

func (p filePos) before(q filePos) bool {
	return p.seg < q.seg || (p.seg == q.seg && p.off < q.off)
}

// fileEntry is a status read into memory and where its record ends.
type fileEntry struct {
	cs  mapping.CallStatus
	end filePos
}

// fileStore keeps the outbox's statuses on disk. Its methods are called
// with the Outbox's lock held; the syncer takes mu for the file handles.
type fileStore struct {
	dir    string
	memMax int
	segMax int64 // segmentMax; tests make it small
	log    *slog.Logger
	stats  *Stats

	mu        sync.Mutex // guards the files and positions below against the syncer
	w         *os.File   // segment being appended to
	wpos      filePos    // end of the log
	head      filePos    // first record not acknowledged
	headFile  *os.File
	dirty     bool // appended since the last fsync
	headMoved bool

	cache   []fileEntry // the first pending statuses, decoded
	spilled int         // pending statuses on disk only, after cache
	rpos    filePos     // first record not in cache
	r       *os.File
	rbuf    *bufio.Reader

	stop chan struct{}
	done chan struct{}
}

// openFileStore opens (or creates) the log in dir and loads what an
// earlier run left unacknowledged.
func openFileStore(dir string, memMax int, stats *Stats, log *slog.Logger) (*fileStore, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("outbox: create %s: %w", dir, err)
	}
	s := &fileStore{dir: dir, memMax: memMax, segMax: segmentMax, log: log, stats: stats, stop: make(chan struct{}), done: make(chan struct{})}
	if err := s.load(); err != nil {
		s.closeFiles()
		return nil, err
	}
	go s.syncer()
	return s, nil
}

func (s *fileStore) segPath(n int64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", n, segSuffix))
}

// segments lists the segment numbers in dir, in order.
func (s *fileStore) segments() ([]int64, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("outbox: list %s: %w", s.dir, err)
	}
	var out []int64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segSuffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(name, 10, 64)
		if err != nil {
			continue
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

func (s *fileStore) load() error {
	hf, err := os.OpenFile(filepath.Join(s.dir, headFile), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("outbox: open head: %w", err)
	}
	s.headFile = hf
	var head filePos
	if b, err := io.ReadAll(hf); err != nil {
		return fmt.Errorf("outbox: read head: %w", err)
	} else if f := strings.Fields(string(b)); len(f) == 2 {
		head.seg, _ = strconv.ParseInt(f[0], 10, 64)
		head.off, _ = strconv.ParseInt(f[1], 10, 64)
	}
	segs, err := s.segments()
	if err != nil {
		return err
	}
	// Segments wholly behind the head were acknowledged; the syncer may
	// have died before removing them.
	for len(segs) > 0 && segs[0] < head.seg {
		os.Remove(s.segPath(segs[0]))
		segs = segs[1:]
	}
	if len(segs) == 0 {
		segs = []int64{max(head.seg, 1)}
	}
	if segs[0] != head.seg {
		head = filePos{seg: segs[0]} // the head's segment is gone: start at the next
	}
	s.head = head
	last := segs[len(segs)-1]
	w, err := os.OpenFile(s.segPath(last), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("outbox: open segment: %w", err)
	}
	s.w = w
	size, err := completeRecords(w)
	if err != nil {
		return fmt.Errorf("outbox: repair %s: %w", w.Name(), err)
	}
	if _, err := w.Seek(size, io.SeekStart); err != nil {
		return fmt.Errorf("outbox: seek %s: %w", w.Name(), err)
	}
	s.wpos = filePos{seg: last, off: size}
	if s.head.seg == last && s.head.off > size {
		s.head.off = size
	}

	// Count what is pending and read the first memMax into memory.
	s.rpos = s.head
	pending := 0
	for _, n := range segs {
		f, err := os.Open(s.segPath(n))
		if err != nil {
			return fmt.Errorf("outbox: open segment: %w", err)
		}
		off := int64(0)
		if n == s.head.seg {
			off = s.head.off
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return fmt.Errorf("outbox: seek %s: %w", f.Name(), err)
		}
		br := bufio.NewReader(f)
		for n != last || off < s.wpos.off {
			line, err := br.ReadBytes('\n')
			if len(line) == 0 || line[len(line)-1] != '\n' {
				break // end of segment (a torn tail was cut above)
			}
			off += int64(len(line))
			if err != nil {
				break
			}
			pending++
			if len(s.cache) < s.memMax && s.spilled == 0 {
				var cs mapping.CallStatus
				if err := json.Unmarshal(line, &cs); err != nil {
					s.log.Error("outbox: unreadable status skipped", "segment", n, "offset", off-int64(len(line)), "err", err)
					s.stats.Errors.Add(1)
					pending--
				} else {
					s.cache = append(s.cache, fileEntry{cs: cs, end: filePos{seg: n, off: off}})
				}
				s.rpos = filePos{seg: n, off: off}
			} else {
				s.spilled++
			}
		}
		f.Close()
	}
	if s.spilled == 0 {
		s.rpos = s.wpos // everything pending is in memory
	}
	if pending > 0 {
		s.log.Info("outbox: statuses from an earlier run wait for NATS", "count", pending, "dir", s.dir)
	}
	s.stats.Spilled.Store(int64(s.spilled))
	return nil
}

// completeRecords cuts a torn last line (a crash in the middle of a write)
// and returns the size that holds whole records.
func completeRecords(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if size == 0 {
		return 0, nil
	}
	// Walk back to the last newline.
	buf := make([]byte, 4096)
	end := size
	for end > 0 {
		n := int64(len(buf))
		if n > end {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = end - n + int64(i) + 1
			break
		}
		end -= n
	}
	if end != size {
		if err := f.Truncate(end); err != nil {
			return 0, err
		}
	}
	return end, nil
}

// append writes cs at the end of the log. An error leaves the log as it
// was; the caller keeps cs in memory.
func (s *fileStore) append(cs mapping.CallStatus) error {
	line, err := json.Marshal(cs)
	if err != nil {
		return fmt.Errorf("outbox: encode %s: %w", cs.CallID, err)
	}
	line = append(line, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wpos.off > 0 && s.wpos.off+int64(len(line)) > s.segMax {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	if _, err := s.w.Write(line); err != nil {
		// Cut what a short write left, so the next record starts clean.
		s.w.Truncate(s.wpos.off)
		s.w.Seek(s.wpos.off, io.SeekStart)
		return fmt.Errorf("outbox: write %s: %w", s.w.Name(), err)
	}
	wasEnd := s.rpos == s.wpos
	s.wpos.off += int64(len(line))
	s.dirty = true
	if wasEnd && s.spilled == 0 && len(s.cache) < s.memMax {
		s.cache = append(s.cache, fileEntry{cs: cs, end: s.wpos})
		s.rpos = s.wpos
	} else {
		s.spilled++
		s.stats.Spilled.Store(int64(s.spilled))
	}
	return nil
}

// rotate starts a new segment; mu is held.
func (s *fileStore) rotate() error {
	if err := s.w.Sync(); err != nil {
		return fmt.Errorf("outbox: sync %s: %w", s.w.Name(), err)
	}
	next := s.wpos.seg + 1
	w, err := os.OpenFile(s.segPath(next), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("outbox: new segment: %w", err)
	}
	s.w.Close()
	s.w = w
	if s.rpos == s.wpos {
		s.rpos = filePos{seg: next}
	}
	s.wpos = filePos{seg: next}
	s.dirty = false
	return nil
}

// peek returns the oldest pending status.
func (s *fileStore) peek() (mapping.CallStatus, bool) {
	if len(s.cache) == 0 {
		s.refill()
	}
	if len(s.cache) == 0 {
		return mapping.CallStatus{}, false
	}
	return s.cache[0].cs, true
}

// pop drops the oldest pending status (acknowledged by NATS).
func (s *fileStore) pop() {
	if len(s.cache) == 0 {
		s.refill()
	}
	if len(s.cache) == 0 {
		return
	}
	s.mu.Lock()
	s.head = s.cache[0].end
	s.headMoved = true
	s.mu.Unlock()
	s.cache[0] = fileEntry{}
	s.cache = s.cache[1:]
	if len(s.cache) == 0 {
		s.cache = nil
	}
	if len(s.cache) < s.memMax/2 {
		s.refill()
	}
}

func (s *fileStore) len() int { return len(s.cache) + s.spilled }

// refill reads spilled statuses back into memory, up to memMax.
func (s *fileStore) refill() {
	for s.spilled > 0 && len(s.cache) < s.memMax {
		cs, end, err := s.readNext()
		if err != nil {
			// The record is lost to a disk error; log it and go on
			// with the next rather than stall the outbox.
			s.log.Error("outbox: unreadable status skipped", "segment", s.rpos.seg, "offset", s.rpos.off, "err", err)
			s.stats.Errors.Add(1)
		}
		s.spilled--
		if err == nil {
			s.cache = append(s.cache, fileEntry{cs: cs, end: end})
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	s.stats.Spilled.Store(int64(s.spilled))
}

// readNext decodes the record at rpos and moves rpos past it.
func (s *fileStore) readNext() (mapping.CallStatus, filePos, error) {
	var cs mapping.CallStatus
	for {
		if s.r == nil {
			f, err := os.Open(s.segPath(s.rpos.seg))
			if err != nil {
				return cs, s.rpos, fmt.Errorf("open segment: %w", err)
			}
			if _, err := f.Seek(s.rpos.off, io.SeekStart); err != nil {
				f.Close()
				return cs, s.rpos, fmt.Errorf("seek segment: %w", err)
			}
			s.r, s.rbuf = f, bufio.NewReaderSize(f, 64<<10)
		}
		line, err := s.rbuf.ReadBytes('\n')
		if err == nil {
			s.rpos.off += int64(len(line))
			if err := json.Unmarshal(line, &cs); err != nil {
				return cs, s.rpos, fmt.Errorf("decode: %w", err)
			}
			return cs, s.rpos, nil
		}
		// End of this segment: the record is in the next one.
		s.r.Close()
		s.r, s.rbuf = nil, nil
		s.mu.Lock()
		last := s.wpos.seg
		s.mu.Unlock()
		if s.rpos.seg >= last {
			return cs, s.rpos, fmt.Errorf("record missing at end of log: %w", io.EOF)
		}
		s.rpos = filePos{seg: s.rpos.seg + 1}
	}
}

// syncer fsyncs appended records and persists the head, syncEvery at most
// behind, and removes acknowledged segments.
func (s *fileStore) syncer() {
	defer close(s.done)
	t := time.NewTicker(syncEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			s.sync()
			return
		case <-t.C:
			s.sync()
		}
	}
}

func (s *fileStore) sync() {
	// The fsyncs run outside mu, so the engine (append) and the publisher
	// (pop) never wait on the disk.
	s.mu.Lock()
	w, dirty := s.w, s.dirty
	s.dirty = false
	head, moved := s.head, s.headMoved
	s.headMoved = false
	s.mu.Unlock()

	if dirty {
		// A rotation may have closed w meanwhile: it synced it first.
		if err := w.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			s.log.Error("outbox: fsync", "file", w.Name(), "err", err)
			s.stats.Errors.Add(1)
			s.mu.Lock()
			s.dirty = true
			s.mu.Unlock()
		}
	}
	if !moved {
		return
	}
	retry := func() {
		s.mu.Lock()
		s.headMoved = true
		s.mu.Unlock()
	}
	rec := fmt.Sprintf("%020d %020d\n", head.seg, head.off)
	if _, err := s.headFile.WriteAt([]byte(rec), 0); err != nil {
		s.log.Error("outbox: write head", "err", err)
		s.stats.Errors.Add(1)
		retry()
		return
	}
	if err := s.headFile.Sync(); err != nil {
		s.log.Error("outbox: fsync head", "err", err)
		s.stats.Errors.Add(1)
		retry()
		return
	}
	segs, err := s.segments()
	if err != nil {
		return
	}
	for _, n := range segs {
		if n < head.seg {
			os.Remove(s.segPath(n))
		}
	}
}

// close syncs and closes the files; the log stays for the next start.
func (s *fileStore) close() error {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeFiles()
}

func (s *fileStore) closeFiles() error {
	var errs []error
	for _, f := range []*os.File{s.w, s.r, s.headFile} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	s.w, s.r, s.headFile = nil, nil, nil
	return errors.Join(errs...)
}

// Config is where final statuses wait for NATS.
type Config struct {
	// Durable keeps them in a log on disk until JetStream (or a core
	// NATS flush) acknowledges them, so a broker outage that outlasts a
	// daemon restart or crash loses none. false keeps them in memory.
	Durable bool `mapstructure:"durable"`
	// Dir holds the log; empty means <data_dir>/outbox.
	Dir string `mapstructure:"dir"`
	// Memory is how many waiting statuses are held in memory; the rest
	// wait on disk (durable) so an outage costs disk, not memory.
	Memory int `mapstructure:"memory"`
}

func (c Config) Validate(dataDir string) error {
	var errs []error
	if c.Durable && c.Dir == "" && dataDir == "" {
		errs = append(errs, errors.New("data_dir must be set when outbox.durable is true and outbox.dir is empty"))
	}
	if c.Durable && c.Memory < 1 {
		errs = append(errs, fmt.Errorf("outbox.memory must be at least 1, got %d", c.Memory))
	}
	return errors.Join(errs...)
}

// open returns the configured outbox.
func (c Config) Open(dataDir string, stats *Stats, log *slog.Logger) (*Outbox, error) {
	if !c.Durable {
		return New(stats), nil
	}
	dir := c.Dir
	if dir == "" {
		dir = filepath.Join(dataDir, "outbox")
	}
	return Open(dir, c.Memory, stats, log)
}
