package adapter

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestKVLedger(t *testing.T) {
	port := freePort(t)
	startNATS(t, port, t.TempDir())
	nc, err := nats.Connect("nats://127.0.0.1:" + strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := newKVLedger(nc, "pbx1", testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if seen, err := l.Seen(ctx, "pbx1:lab-1.0"); seen || err != nil {
		t.Fatalf("no bucket: seen=%v err=%v, want false, nil", seen, err)
	}
	js, _ := jetstream.New(nc)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: LedgerBucket})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "pbx1.lab-1.0", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"pbx1:lab-1.0": true, "pbx1:lab-1.1": false} {
		if seen, err := l.Seen(ctx, id); seen != want || err != nil {
			t.Errorf("Seen(%s) = %v, %v; want %v", id, seen, err, want)
		}
	}
}
