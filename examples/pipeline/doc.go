// Command pipeline is shmactor's end-to-end demonstration: a pipeline of
// real processes on one machine, talking through shared memory.
//
//	go run ./examples/pipeline [-in DIR] [-workers 3] [-plaintext] [-chaos]
//	go run ./examples/pipeline -synthetic [-n 500000] [-size 256] [-workers 3] [-plaintext] [-chaos]
//
// By default it processes real files: the Go toolchain's source tree
// (`go env GOROOT`/src), or the files under -in DIR. The parent starts,
// as child processes of its own binary, a source that reads the files and
// sends each to a work queue (a file over 192 KiB, too large for the
// queue's records, goes out of line to a supervised pool of analyzers: a
// kind every worker process offers, one member per worker, kept at that
// number across the worker processes with actor.SpawnPool), workers that
// take them from the queue (competing consumers: each item goes to
// exactly one worker), hash each file, count its lines, words and
// identifiers, and send the result to the sink actor by name, and a sink
// that adds the results up and publishes its progress on a topic the
// parent follows. The summary gives files, bytes and MB/s, lines, words
// and the ten most frequent identifiers (from each file's 64 most
// frequent). With -synthetic (or -n or -size) the items are made up:
// -n of -size bytes each, hashed a few rounds.
// At the end the parent prints a summary: messages, msgs/s, end-to-end
// latency, drops, each worker's share, and whether every message is
// accounted for. With -chaos it kill -9's a worker mid-run; the items
// that worker held, and those whose results were still in its memory, are
// found missing at the sink and sent again, so the run still ends with
// every message processed, and counted once, at the sink; the pool of
// analyzers replaces its member that ran in the killed worker on a
// survivor, and ends the run with one member per worker again.
//
// Every process sizes its inbox, and the work queue, from -size, so each
// size the flag accepts (up to 256 KiB) fits: the default inbox takes
// records of up to 64 KiB, envelope included.
//
// Everything lives in a private namespace directory that is removed at
// the end, also on Ctrl-C: the parent kills every child, at once, and
// removes the namespace, and a second Ctrl-C does not interrupt that.
package main
