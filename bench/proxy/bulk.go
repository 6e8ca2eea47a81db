package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"
)

// The bulk measure speaks a protocol of its own, opaque to every proxy: the client sends the
// byte count (8 bytes, big-endian), then that many bytes; the sink reads them all and answers
// with the count it read. No half-close is needed, which not every proxy passes on over TLS.

// startSink serves the bulk measure's sink on loopback until ctx ends.
func startSink(ctx context.Context) (string, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("the TCP sink: %w", err)
	}
	context.AfterFunc(ctx, func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go sink(c)
		}
	}()
	return lis.Addr().String(), nil
}

func sink(c net.Conn) {
	defer c.Close()
	var hdr [8]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return
	}
	n, _ := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint64(hdr[:])))
	binary.BigEndian.PutUint64(hdr[:], uint64(n))
	c.Write(hdr[:])
}

// bulk sends size bytes to the sink through addr and returns MiB/s, from the dial to the
// sink's answer that it has them all.
func bulk(ctx context.Context, addr string, size int64) (float64, error) {
	start := time.Now()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	context.AfterFunc(ctx, func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(2 * time.Minute)); err != nil {
		return 0, err
	}
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], uint64(size))
	if _, err := c.Write(hdr[:]); err != nil {
		return 0, fmt.Errorf("sending: %w", err)
	}
	buf := make([]byte, 256<<10)
	for i := range buf {
		buf[i] = byte(i)
	}
	for left := size; left > 0; {
		n, err := c.Write(buf[:min(left, int64(len(buf)))])
		if err != nil {
			return 0, fmt.Errorf("sending, %d MiB in: %w", (size-left)>>20, err)
		}
		left -= int64(n)
	}
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return 0, fmt.Errorf("the sink's answer: %w", err)
	}
	if got := int64(binary.BigEndian.Uint64(hdr[:])); got != size {
		return 0, fmt.Errorf("the sink read %d bytes of %d", got, size)
	}
	return float64(size) / (1 << 20) / time.Since(start).Seconds(), nil
}
