// Package stream carries byte streams between processes of a namespace,
// with the feel of TCP: [Listen] returns a net.Listener, [Dial] a
// net.Conn, and anything written for those (net/http, bufio, io.Copy)
// runs over shared memory instead of a socket, sealed like every
// message of the namespace.
//
//	// server process
//	ln, err := stream.Listen(sys, "echo")
//	for {
//		c, err := ln.Accept()
//		if err != nil {
//			return err
//		}
//		go func() { io.Copy(c, c); c.Close() }()
//	}
//
//	// client process
//	c, err := stream.Dial(ctx, sys, "echo")
//	fmt.Fprintf(c, "hello\n")
//	line, err := bufio.NewReader(c).ReadString('\n')
//	c.Close()
//
// A listener's name is one of the namespace's names, kept apart from
// actors' names (a listener "echo" and an actor "echo" can both exist),
// and it is released when the listener closes or its process dies. The
// streams are full-duplex; a Conn also has CloseWrite, which half-closes
// it as *net.TCPConn's does. Deadlines have net.Conn's meaning: a call
// past its deadline fails with an error that is os.ErrDeadlineExceeded
// and a net.Error whose Timeout is true. Addresses are [Addr]s, of
// network "shm".
//
// # How the bytes travel
//
// Each stream has a pipe of its own: a shared-memory segment with one
// ring per direction, 512 KiB each. A Write seals its bytes (with a key
// drawn for the stream and handed to the listener inside a sealed
// message) straight into the ring, in frames of at most 64 KiB, and a
// Read opens them straight into the caller's buffer; a System made
// WithPlaintext copies instead. The pipe's file is removed as soon as
// both ends have mapped it, so a stream leaves nothing behind, whichever
// process dies.
//
// # Flow control and failure
//
// A writer may be 512 KiB ahead of its reader; a Write then waits until
// the reader has read half of that. A slow reader slows its writer,
// nothing is dropped, and a stream buffers at most that much.
//
// When the process at the other end dies (even with kill -9), Read
// returns what had arrived and then an error wrapping [ErrPeerGone],
// within a second; Write fails the same way. Close tells the other end,
// whose Read returns io.EOF after the data and whose Write fails with
// [ErrPeerClosed]. A frame that does not open with the stream's key
// fails Read with [ErrProtocol].
//
// # Caveats
//
// A Read or Write that waits parks its OS thread (as a blocking system
// call does), so a process with thousands of streams waiting holds as
// many threads. Each Write of up to 64 KiB is one frame: many small
// Writes cost more than a few large ones (wrap a Conn in a
// bufio.Writer). Streams and listeners close when their System closes.
package stream
