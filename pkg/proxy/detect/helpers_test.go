package detect

import (
	"io"
	"net"
	"os"
	"time"
)

// memConn is a client that has sent data, in reads of at most chunk bytes, and then either
// closes (eof) or falls silent: a Read past the data then fails as a passed read deadline
// would. It counts what was read.
type memConn struct {
	net.Conn // nil: any method not defined here panics, which a test wants to hear about
	data     []byte
	chunk    int
	eof      bool
	reads    []int // the size of every Read that returned bytes
	total    int
}

func (c *memConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		if c.eof {
			return 0, io.EOF
		}
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	}
	n := min(len(p), len(c.data))
	if c.chunk > 0 {
		n = min(n, c.chunk)
	}
	copy(p, c.data[:n])
	c.data = c.data[n:]
	c.reads = append(c.reads, n)
	c.total += n
	return n, nil
}

func (c *memConn) SetReadDeadline(time.Time) error { return nil }
func (c *memConn) Close() error                    { return nil }
