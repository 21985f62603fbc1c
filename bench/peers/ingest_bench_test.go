package peers

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	goami "github.com/heltonmarx/goami/ami"
	"github.com/staskobzar/goami2"

	"github.com/callstatus/callstatus/ami"
	"github.com/callstatus/callstatus/bench/fakeami"
	"github.com/callstatus/callstatus/bench/synth"
)

const (
	user, secret = "bench", "bench"
	// ingestCopies: about 90,000 frames (45 MB), 2,000 calls open at once.
	ingestCopies      = 1000
	ingestConcurrency = 2000
)

var (
	streamOnce sync.Once
	stream     *synth.Stream
	streamErr  error
)

func testStream(b *testing.B) *synth.Stream {
	b.Helper()
	streamOnce.Do(func() {
		recs, err := synth.LoadDir("../../testdata/recordings")
		if err != nil {
			streamErr = err
			return
		}
		stream, streamErr = synth.Generate(recs, synth.Options{Copies: ingestCopies, Concurrency: ingestConcurrency})
	})
	if streamErr != nil {
		b.Fatal(streamErr)
	}
	return stream
}

// ingest serves the stream to read (one client session) per iteration and
// reports frames per second from the first byte written to the last frame
// read, and how many frames the client delivered.
func ingest(b *testing.B, read func(ctx context.Context, addr string, count func()) error) {
	st := testStream(b)
	b.SetBytes(int64(len(st.Bytes)))
	var total time.Duration
	var frames, got int
	for b.Loop() {
		srv, err := fakeami.Start(st, fakeami.Options{User: user, Secret: secret, Close: true, Delay: 50 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		var last time.Time
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		err = read(ctx, srv.Addr(), func() { n++; last = time.Now() })
		cancel()
		<-srv.Done()
		started, _, _, _ := srv.Times()
		srv.Stop()
		if err != nil {
			b.Fatal(err)
		}
		total += last.Sub(started)
		frames += len(st.Frames)
		got += n
	}
	b.ReportMetric(float64(frames)/total.Seconds(), "events/s")
	b.ReportMetric(float64(got)/float64(frames), "delivered")
}

// BenchmarkIngestCallstatus is the daemon's AMI path: ami.Source (dial,
// login, then Reader + Translate on every frame). Frames that do not
// translate are read and skipped inside Next, so the count is of frames
// read, taken from the source's stats.
func BenchmarkIngestCallstatus(b *testing.B) {
	ingest(b, func(ctx context.Context, addr string, count func()) error {
		src := ami.NewSource(ami.Config{Address: addr, Username: user, Password: secret, Events: "on"}, nil)
		if err := src.Connect(ctx); err != nil {
			return err
		}
		defer src.Close()
		for {
			if _, err := src.Next(ctx); err != nil {
				break // EOF: the server closed after the stream
			}
		}
		// One call per frame read, all at the end time: Stats copies
		// maps, too slow to call per event.
		for range src.Stats().Frames {
			count()
		}
		return nil
	})
}

// BenchmarkIngestGoami is github.com/heltonmarx/goami as its README shows:
// NewSocket, Connect, Login, then Events in a loop.
func BenchmarkIngestGoami(b *testing.B) {
	ingest(b, func(ctx context.Context, addr string, count func()) error {
		sock, err := goami.NewSocket(ctx, addr)
		if err != nil {
			return err
		}
		defer sock.Close(ctx)
		if _, err := goami.Connect(ctx, sock); err != nil {
			return err
		}
		if err := goami.Login(ctx, sock, user, secret, "on", "bench-1"); err != nil {
			return err
		}
		for {
			ev, err := goami.Events(ctx, sock)
			if err != nil {
				return nil
			}
			if len(ev) > 0 {
				count()
			}
		}
	})
}

// BenchmarkIngestGoami2 is github.com/staskobzar/goami2 v1.7.6: the caller
// dials, NewClient logs in, AllMessages delivers.
func BenchmarkIngestGoami2(b *testing.B) {
	ingest(b, func(ctx context.Context, addr string, count func()) error {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		cl, err := goami2.NewClientWithContext(ctx, conn, user, secret)
		if err != nil {
			return err
		}
		defer cl.Close()
		parseErrs := 0
		defer func() {
			if parseErrs > 0 {
				b.Logf("goami2: %d frames failed to parse", parseErrs)
			}
		}()
		for {
			select {
			case msg := <-cl.AllMessages():
				if msg != nil && msg.IsEvent() {
					count()
				}
			case err := <-cl.Err():
				if errors.Is(err, goami2.ErrEOF) || errors.Is(err, goami2.ErrConn) {
					return nil
				}
				parseErrs++ // a frame goami2 could not parse: not delivered
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
}
