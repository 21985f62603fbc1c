// Package peers compares AMI ingest on the same bytes from the same
// loopback server, in one run: this project's ami.Source (Reader +
// Translate, the daemon's path), github.com/heltonmarx/goami's stock
// Socket with its Events loop, and github.com/staskobzar/goami2's Client.
//
// It is a module of its own so that goami2, a benchmark peer only, stays
// out of the project's go.mod.
package peers
