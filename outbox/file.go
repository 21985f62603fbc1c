package outbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
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
//	head                      "<segment> <offset> <crc32>": the first status not yet acknowledged
//	parked.jsonl              statuses NATS will never take (dead letter; see Park)
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
// Files are written as nats-server writes its own (writeAtomicallyWithTemp):
// the head goes to head.tmp, is fsynced, and renamed over head, then the
// directory is fsynced; a new segment is followed by a directory fsync, so
// a power cut cannot lose the file a status was appended to. A write that
// fails (disk full) is cut back before the next one, so the offsets in
// memory always match whole records on disk.
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

// FileSystem is what the store writes through: OS, or in tests one that
// fails like a full disk. Reads go to the os package directly.
type FileSystem interface {
	OpenFile(name string, flag int, perm os.FileMode) (*os.File, error)
	WriteAt(f *os.File, b []byte, off int64) (int, error)
	Sync(f *os.File) error
	Rename(from, to string) error
	SyncDir(dir string) error
}

// OS is the real file system.
var OS FileSystem = osFS{}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}
func (osFS) WriteAt(f *os.File, b []byte, off int64) (int, error) { return f.WriteAt(b, off) }
func (osFS) Sync(f *os.File) error                                { return f.Sync() }
func (osFS) Rename(from, to string) error                         { return os.Rename(from, to) }
func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// filePos is a place in the log: segment number and byte offset.
type filePos struct {
	seg int64
	off int64
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
	fs     FileSystem

	mu        sync.Mutex // guards the files and positions below against the syncer
	w         *os.File   // segment being appended to
	wpos      filePos    // end of the log
	head      filePos    // first record not acknowledged
	dirty     bool       // appended since the last fsync
	headMoved bool
	torn      bool  // a failed write may have left bytes past wpos: cut them first
	writeErr  error // the last append's error, nil once one succeeds again
	syncErr   error // the syncer's last error, nil once a pass succeeds again
	parkedN   int   // records in the dead letter file (guarded by the Outbox's lock)

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
func openFileStore(fs FileSystem, dir string, memMax int, stats *Stats, log *slog.Logger) (*fileStore, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("outbox: create %s: %w", dir, err)
	}
	s := &fileStore{dir: dir, memMax: memMax, segMax: segmentMax, log: log, stats: stats, fs: fs, stop: make(chan struct{}), done: make(chan struct{})}
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
	var head filePos
	switch b, err := os.ReadFile(filepath.Join(s.dir, headFile)); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("outbox: read head: %w", err)
	default:
		var ok bool
		if head, ok = parseHead(b); !ok {
			// Start at the oldest segment: statuses may go out twice
			// (the stream dedupes them), none is lost.
			s.log.Error("outbox: head unreadable; starting at the oldest segment", "head", string(b))
			s.stats.Errors.Add(1)
		}
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
	fresh := len(segs) == 0
	if fresh {
		segs = []int64{max(head.seg, 1)}
	}
	if segs[0] != head.seg {
		head = filePos{seg: segs[0]} // the head's segment is gone: start at the next
	}
	s.head = head
	last := segs[len(segs)-1]
	w, err := s.fs.OpenFile(s.segPath(last), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("outbox: open segment: %w", err)
	}
	s.w = w
	if fresh {
		if err := s.fs.SyncDir(s.dir); err != nil {
			return fmt.Errorf("outbox: fsync %s: %w", s.dir, err)
		}
	}
	size, err := completeRecords(w)
	if err != nil {
		return fmt.Errorf("outbox: repair %s: %w", w.Name(), err)
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
	s.parkedN = countParked(s.dir)
	s.stats.Parked.Store(int64(s.parkedN))
	if s.parkedN > 0 {
		s.log.Warn("outbox: statuses parked in the dead letter (callstatusd outbox list)", "count", s.parkedN, "file", filepath.Join(s.dir, ParkedFile))
	}
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
	if err := s.appendLocked(line); err != nil {
		s.writeErr = err
		return err
	}
	s.writeErr = nil
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

// appendLocked writes one record at wpos; mu is held. On error nothing
// moved: wpos still ends the last whole record.
func (s *fileStore) appendLocked(line []byte) error {
	if s.torn {
		// A short write left bytes past wpos: cut them, or the next
		// record would not start on a line of its own after a restart.
		if err := s.w.Truncate(s.wpos.off); err != nil {
			return fmt.Errorf("outbox: cut %s: %w", s.w.Name(), err)
		}
		s.torn = false
	}
	if s.wpos.off > 0 && s.wpos.off+int64(len(line)) > s.segMax {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	if n, err := s.fs.WriteAt(s.w, line, s.wpos.off); err != nil {
		if n > 0 {
			s.torn = s.w.Truncate(s.wpos.off) != nil
		}
		return fmt.Errorf("outbox: append: %w", err) // err names the file
	}
	return nil
}

// rotate starts a new segment; mu is held. On error the log is as it was.
func (s *fileStore) rotate() error {
	if err := s.fs.Sync(s.w); err != nil {
		return fmt.Errorf("outbox: fsync %s: %w", s.w.Name(), err)
	}
	next := s.wpos.seg + 1
	w, err := s.fs.OpenFile(s.segPath(next), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("outbox: new segment: %w", err)
	}
	// The new file's name must survive a power cut before a status is
	// written into it.
	if err := s.fs.SyncDir(s.dir); err != nil {
		w.Close()
		os.Remove(w.Name())
		return fmt.Errorf("outbox: fsync %s after a new segment: %w", s.dir, err)
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

	ok := true
	if dirty {
		// A rotation may have closed w meanwhile: it synced it first.
		if err := s.fs.Sync(w); err != nil && !errors.Is(err, os.ErrClosed) {
			s.fail(fmt.Errorf("outbox: fsync %s: %w", w.Name(), err), func() { s.dirty = true })
			ok = false
		}
	}
	if moved {
		if err := s.writeHead(head); err != nil {
			s.fail(err, func() { s.headMoved = true })
			return
		}
	}
	if ok && (dirty || moved) {
		s.mu.Lock()
		s.syncErr = nil
		s.mu.Unlock()
	}
	if !moved {
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
	for _, f := range []*os.File{s.w, s.r} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	s.w, s.r = nil, nil
	return errors.Join(errs...)
}

// fail logs and counts a background write error and marks the work to
// redo (under mu).
func (s *fileStore) fail(err error, redo func()) {
	s.log.Error("outbox: disk write failed; retrying", "err", err)
	s.stats.Errors.Add(1)
	s.mu.Lock()
	redo()
	s.syncErr = err
	s.mu.Unlock()
}

// failed is the last write or fsync error, nil once writing works again.
func (s *fileStore) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writeErr != nil {
		return s.writeErr
	}
	return s.syncErr
}

// writeHead replaces the head file atomically: head.tmp, fsync, rename,
// directory fsync.
func (s *fileStore) writeHead(p filePos) error {
	body := fmt.Sprintf("%d %d", p.seg, p.off)
	rec := []byte(fmt.Sprintf("%s %08x\n", body, crc32.ChecksumIEEE([]byte(body))))
	return writeAtomically(s.fs, s.dir, headFile, rec)
}

// parseHead reads "<seg> <off> <crc>" (or the older "<seg> <off>").
func parseHead(b []byte) (filePos, bool) {
	f := strings.Fields(string(b))
	if len(f) != 2 && len(f) != 3 {
		return filePos{}, false
	}
	seg, err1 := strconv.ParseInt(f[0], 10, 64)
	off, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || seg < 0 || off < 0 {
		return filePos{}, false
	}
	if len(f) == 3 {
		// The sum is of the numbers as written (the older head was zero-padded).
		if f[2] != fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(f[0]+" "+f[1]))) {
			return filePos{}, false
		}
	}
	return filePos{seg: seg, off: off}, true
}

// writeAtomically writes dir/name as nats-server's writeAtomicallyWithTemp
// does: a temporary file, fsync, close, rename over name, fsync dir.
func writeAtomically(fs FileSystem, dir, name string, data []byte) error {
	path := filepath.Join(dir, name)
	tmp := path + ".tmp"
	f, err := fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("outbox: write %s: %w", name, err)
	}
	if _, err := fs.WriteAt(f, data, 0); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("outbox: write %s: %w", name, err)
	}
	if err := fs.Sync(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("outbox: fsync %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("outbox: close %s: %w", name, err)
	}
	if err := fs.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("outbox: rename %s: %w", name, err)
	}
	if err := fs.SyncDir(dir); err != nil {
		return fmt.Errorf("outbox: fsync %s after writing %s: %w", dir, name, err)
	}
	return nil
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
	// wait on disk (durable) so an outage costs disk, not memory. When
	// the disk refuses writes, as many again wait in memory only.
	Memory int `mapstructure:"memory"`
	// StaleAfter: /readyz says degraded while the oldest unpublished
	// status has waited this long.
	StaleAfter time.Duration `mapstructure:"stale_after"`
}

func (c Config) Validate(dataDir string) error {
	var errs []error
	if c.Durable && c.Dir == "" && dataDir == "" {
		errs = append(errs, errors.New("data_dir must be set when outbox.durable is true and outbox.dir is empty"))
	}
	if c.Durable && c.Memory < 1 {
		errs = append(errs, fmt.Errorf("outbox.memory must be at least 1, got %d", c.Memory))
	}
	if c.StaleAfter <= 0 {
		errs = append(errs, fmt.Errorf("outbox.stale_after must be positive, got %s", c.StaleAfter))
	}
	return errors.Join(errs...)
}

// Open returns the configured outbox.
func (c Config) Open(dataDir string, stats *Stats, log *slog.Logger) (*Outbox, error) {
	return c.OpenWith(OS, dataDir, stats, log)
}

// OpenWith is Open writing through fs.
func (c Config) OpenWith(fs FileSystem, dataDir string, stats *Stats, log *slog.Logger) (*Outbox, error) {
	if !c.Durable {
		return New(stats), nil
	}
	return OpenWith(fs, c.Path(dataDir), c.Memory, stats, log)
}

// Path is the outbox directory: outbox.dir, or <data_dir>/outbox.
func (c Config) Path(dataDir string) string {
	if c.Dir != "" {
		return c.Dir
	}
	return filepath.Join(dataDir, "outbox")
}
