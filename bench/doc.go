// Package bench holds the cross-cutting benchmarks of callstatus: the
// engine on a multiplied stream of the lab recordings, memory per active
// call, and the daemon end to end (fake AMI server on loopback → daemon →
// NATS → subscriber). `make bench` runs them, together with the AMI ingest
// comparison in bench/peers (a separate module, so the peers' dependencies
// stay out of the main go.mod), and writes BENCHMARKS.md.
//
// Benchmarks report; they never assert on speed.
package bench
