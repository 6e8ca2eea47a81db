package detect

import (
	"errors"
	"fmt"
	"io"
	"net"
)

// PeekedConn is a connection whose first bytes were read by Detect: Read returns them first,
// then reads the connection. Everything else is the connection's own.
type PeekedConn struct {
	net.Conn
	buffered []byte
}

// Read returns the peeked bytes not yet returned, then reads from the connection.
func (c *PeekedConn) Read(p []byte) (int, error) {
	if len(c.buffered) > 0 {
		n := copy(p, c.buffered)
		c.buffered = c.buffered[n:]
		if len(c.buffered) == 0 {
			// Let the peek buffer go: a long-lived connection should not keep it.
			c.buffered = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

// Buffered returns the peeked bytes Read has not returned yet. They are not copied: the
// caller must not change them.
func (c *PeekedConn) Buffered() []byte { return c.buffered }

// WriteTo writes the peeked bytes to w, then copies the connection to w. Given a TCP
// connection, io.Copy then reaches the connection's own WriteTo or w's ReadFrom, and on Linux
// splice(2), which it would not through Read.
func (c *PeekedConn) WriteTo(w io.Writer) (int64, error) {
	var total int64
	if len(c.buffered) > 0 {
		n, err := w.Write(c.buffered)
		total += int64(n)
		c.buffered = c.buffered[n:]
		if err != nil {
			return total, err
		}
		c.buffered = nil
	}
	n, err := io.Copy(w, c.Conn)
	return total + n, err
}

// CloseWrite half-closes the connection, as an opaque proxy does when one side is done.
func (c *PeekedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return fmt.Errorf("detect: %T cannot half-close: %w", c.Conn, errors.ErrUnsupported)
}

// NetConn returns the underlying connection, as tls.Conn's NetConn does.
func (c *PeekedConn) NetConn() net.Conn { return c.Conn }
