// Command metrics exports a namespace's counters to Prometheus through
// OpenTelemetry: two nodes of one namespace trade requests, and their
// counters (shmactor.messages.sent, .received, topic.published, ...)
// are served at http://127.0.0.1:9464/metrics for Prometheus to scrape.
//
//	go run ./examples/metrics [-addr 127.0.0.1:9464] [-for 30s]
//
// It prints the shmactor lines of its own scrape before it exits.
package main
