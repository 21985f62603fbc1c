package adapter

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// A daemon whose every credential is wrong (AMI refused, ARI 401, NATS
// authorization violation) keeps retrying and logs each failure at debug
// level, but no password appears anywhere in its log.
func TestWrongCredentialsNeverLogged(t *testing.T) {
	const (
		amiPW  = "ami-wrong-Zq81"
		ariPW  = "ari-wrong-Kx02"
		natsPW = "nats-wrong-Pw93"
	)
	pbx := startFakePBX(t, "callstatus", "the-right-one")
	ariHits := make(chan struct{}, 100)
	ariSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case ariHits <- struct{}{}:
		default:
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="Asterisk REST Interface"`)
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"Authentication required"}`))
	}))
	t.Cleanup(ariSrv.Close)
	srv := startSecureNATS(t, func(o *server.Options) {
		o.Users = []*server.User{{Username: "callstatusd", Password: "nats-right"}}
	})

	cfg := clusterDaemonConfig(t, []string{"nats://callstatusd:" + natsPW + "@" + strings.TrimPrefix(srv.ClientURL(), "nats://")}, 1, pbx.addr())
	cfg.AMI.Password = amiPW
	cfg.ARI.Enabled = true
	cfg.ARI.URL, cfg.ARI.Username, cfg.ARI.Password = ariSrv.URL, "callstatus", ariPW
	log, buf := bufferLog(t)
	d, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	stop := runDaemon(t, d)
	eventually(t, 10*time.Second, "every source refused and NATS refused", func() bool {
		s := buf.String()
		return len(ariHits) > 0 && strings.Count(strings.ToLower(s), "authentication failed") >= 2 && strings.Contains(s, "Authorization Violation")
	})
	time.Sleep(300 * time.Millisecond) // a few retries
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, pw := range []string{amiPW, ariPW, natsPW} {
		if strings.Contains(out, pw) {
			t.Errorf("log contains password %q", pw)
		}
	}
	if !strings.Contains(out, "ari") || !strings.Contains(out, "callstatus") {
		t.Errorf("log does not name the refused accounts:\n%s", out)
	}
	if testing.Verbose() {
		t.Logf("%d log lines, none with a password", strings.Count(out, "\n"))
	}
}
