package ami

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// TestRecordings reads every AMI recording of the lab (raw bytes as
// Asterisk 22 sent them) and checks that the reader takes all of it and
// that the events the engine uses translate.
func TestRecordings(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "recordings", "*.ami"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Log("no recordings in ../testdata/recordings yet")
		return
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			fh, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			r := NewReader(fh)
			var frames, wanted, translated int
			untranslated := map[string]int{}
			for {
				f, err := r.ReadFrame()
				if err == io.EOF {
					break
				}
				if err != nil {
					if errors.Is(err, io.ErrUnexpectedEOF) {
						// A recording stopped while Asterisk was writing.
						t.Logf("recording ends inside a frame after %d frames", frames)
						break
					}
					t.Fatalf("frame %d: %v", frames+1, err)
				}
				frames++
				name := f.Event()
				_, known := eventKind(name)
				ev, ok := Translate(&f)
				if known {
					wanted++
				}
				if ok {
					translated++
					if ev.Seq != f.Seq {
						t.Errorf("frame %d: Seq %d", f.Seq, ev.Seq)
					}
				} else if known {
					untranslated[name]++
				}
			}
			if r.MalformedLines() > 0 {
				t.Errorf("%d malformed lines", r.MalformedLines())
			}
			if frames == 0 {
				t.Fatal("no frames")
			}
			// Known events fail to translate only without a channel
			// (global VarSet, UserEvent from the AMI action).
			if wanted > 0 && translated*100 < wanted*95 {
				t.Errorf("translated %d of %d known events; untranslated: %v", translated, wanted, untranslated)
			}
			names := make([]string, 0, len(untranslated))
			for n := range untranslated {
				names = append(names, n)
			}
			sort.Strings(names)
			t.Logf("%d frames, %d known events, %d translated, untranslated known: %v", frames, wanted, translated, names)
		})
	}
}
