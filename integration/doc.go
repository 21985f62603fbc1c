// Package integration runs every lab scenario against a real Asterisk 22
// (the lab container) through the whole daemon (AMI and ARI sources,
// engine, publisher) to NATS, and checks each published status against the
// scenario's answer key. It needs Docker and the lab image (make
// asterisk-image); `go test -short` skips it.
package integration
