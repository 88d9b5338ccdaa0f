// Command pipeline is shmactor's end-to-end demonstration: a pipeline of
// real processes on one machine, talking through shared memory.
//
//	go run ./examples/pipeline [-n 500000] [-workers 3] [-size 256] [-plaintext] [-chaos]
//
// The parent starts, as child processes of its own binary, a source that
// sends items to a work queue, workers that take them from the queue
// (competing consumers: each item goes to exactly one worker), hash them
// and send the digest to the sink actor by name, and a sink that counts
// the results and publishes its progress on a topic the parent follows.
// At the end the parent prints a summary: messages, msgs/s, end-to-end
// latency, drops, each worker's share, and whether every message is
// accounted for. With -chaos it kill -9's a worker mid-run; the items
// that worker held, and those whose results were still in its memory, are
// found missing at the sink and sent again, so the run still ends with
// every message processed, and counted once, at the sink.
//
// Every process sizes its inbox, and the work queue, from -size, so each
// size the flag accepts (up to 256 KiB) fits: the default inbox takes
// records of up to 64 KiB, envelope included.
//
// Everything lives in a private namespace directory that is removed at
// the end, also on Ctrl-C: the parent kills every child, at once, and
// removes the namespace, and a second Ctrl-C does not interrupt that.
package main
