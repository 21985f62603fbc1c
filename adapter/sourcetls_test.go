package adapter

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"
)

// ami.tls end to end: the daemon dials a fake Asterisk that only speaks
// TLS (certificate of a test CA), trusting the CA from ami.tls.ca_file,
// and publishes the call; without the CA it refuses the server and says
// why.
func TestDaemonAMIOverTLS(t *testing.T) {
	pki := newTestPKI(t)
	certFile, keyFile := pki.issue(t, "asterisk", true)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pbx := startFakePBXTLS(t, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, "callstatus", "s3cret")
	nats := startNATS(t, -1, t.TempDir())

	t.Run("trusted CA", func(t *testing.T) {
		cfg := clusterDaemonConfig(t, []string{nats.Server.ClientURL()}, 1, pbx.addr())
		cfg.AMI.TLS = AMITLSConfig{Enabled: true, CAFile: pki.CAFile}
		d, stop := startDaemon(t, cfg)
		waitAttached(t, pbx, 1)
		pbx.emit(amiInboundAnswered("1700000002.0", time.Now().UTC()))
		eventually(t, 10*time.Second, "status published over a TLS source", func() bool { return d.Stats().Publish.Published.Load() == 1 })
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown CA", func(t *testing.T) {
		cfg := clusterDaemonConfig(t, []string{nats.Server.ClientURL()}, 1, pbx.addr())
		cfg.AMI.TLS = AMITLSConfig{Enabled: true, CAFile: newTestPKI(t).CAFile}
		log, buf := bufferLog(t)
		d, err := New(cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		stop := runDaemon(t, d)
		eventually(t, 10*time.Second, "certificate refused", func() bool {
			return strings.Contains(buf.String(), "certificate signed by unknown authority")
		})
		stop()
	})
}
