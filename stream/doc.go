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
// # Flow control and failure
//
// A reader lets its writer send up to 1 MiB (half of a default inbox)
// ahead of what it has read; a Write then waits until the reader catches
// up. A slow reader slows its
// writer, nothing is dropped, and a stream buffers at most that much.
//
// When the process at the other end dies (even with kill -9), Read
// returns what had arrived and then an error wrapping [ErrPeerGone],
// within a second; Write fails the same way. Close tells the other end,
// whose Read returns io.EOF after the data and whose Write fails with
// [ErrPeerClosed].
//
// # Caveats
//
// Each end of a stream is an actor of its process; a stream costs a
// message per 32 KiB written and a grant per 64 KiB read, so many small
// Writes cost more than a few large ones (wrap a Conn in a bufio.Writer).
// Streams and listeners close when their System closes.
package stream
