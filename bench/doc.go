// Command bench measures shmactor between real processes.
//
//	go run ./bench ring [-json] [-quick]
//	go run ./bench registry [-json] [-quick]
//	go run ./bench actor [-json] [-quick] [-runs N] [-spin d]
//	go run ./bench topic [-json] [-quick] [-runs N]
//
// Each subcommand starts its peer processes by re-executing its own binary,
// measures the bare limits of the machine and the shmactor path in the same
// run, and prints p50/p99/p999 latencies, msgs/s and the ratio of each
// figure to its bare limit. With -json it prints one JSON object per result
// instead of a table.
package main
