// Command bench measures shmactor between real processes.
//
//	go run ./bench ring [-json] [-quick]
//	go run ./bench registry [-json] [-quick]
//	go run ./bench actor [-json] [-quick] [-runs N] [-spin d]
//	go run ./bench topic [-json] [-quick] [-runs N]
//	go run ./bench compare [-json] [-quick] [-runs N] [-busy] [-svg path]
//
// Each subcommand starts its peer processes by re-executing its own binary,
// measures the bare limits of the machine and the shmactor path in the same
// run, and prints p50/p99/p999 latencies, msgs/s and the ratio of each
// figure to its bare limit. With -json it prints one JSON object per result
// instead of a table; -quick is a smoke run with small counts; -runs N
// reports the median of N runs of each throughput figure (default 3; in
// compare, of the latency rows too, by p50).
//
// compare sets shmactor (sealed and plaintext) beside the other ways a Go
// program has for traffic between processes of one machine, each in the
// same two processes: a Unix socket with length-prefixed frames, NATS
// (nats-server embedded in the child, nats.go clients), protoactor-go
// remoting over loopback gRPC, and, as references, protoactor-go inside
// one process and the shared-memory ring's bare round trips. It times
// request/reply and one-way streams at 64 B, 4 KiB and 64 KiB, the topic
// round trip and fan-out to four processes, and an idle System's CPU use;
// then prints each shmactor figure's ratio to every comparable one and
// checks the project's targets. Each row is measured by a fresh process
// of its own (with its own child), so that no row runs beside what an
// earlier one left behind. Its flags:
//
//	-busy      run one spinning process per CPU for the whole run
//	-svg path  write a chart of the 64 B round trips and the one-way
//	           streams (default docs/compare.svg; none with -quick
//	           unless given; "" for none)
//
// With SHMACTOR_BENCH_CPUPROFILE=dir, every process of a run writes a CPU
// profile to dir/<role>-<pid>.prof; with SHMACTOR_BENCH_COMPARE_ROW=n,
// compare measures row n only and prints it as JSON (rows are numbered
// from 0 in table order).
//
// The benchmark is a module of its own, so that its peers' dependencies
// stay out of the library's go.mod; the go.work at the repository root
// lets these commands run from there.
package main
