package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

func TestBatchedConnKeepsEveryWriteInOrder(t *testing.T) {
	client, server := net.Pipe()
	b := newBatchedConn(client)
	var want bytes.Buffer
	for i := 0; i < 2000; i++ {
		// Sizes up to past maxBatch, so that writers also wait for room.
		want.Write(bytes.Repeat([]byte{byte(i)}, 1+i*37%(maxBatch+100)))
	}
	got := make(chan []byte)
	go func() {
		all, _ := io.ReadAll(server)
		got <- all
	}()
	for p := want.Bytes(); len(p) > 0; {
		n := min(len(p), 1+len(p)%(maxBatch+100))
		if _, err := b.Write(p[:n]); err != nil {
			t.Fatalf("write: %v", err)
		}
		p = p[n:]
	}
	if err := b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if all := <-got; !bytes.Equal(all, want.Bytes()) {
		t.Fatalf("the peer read %d bytes, not the %d written in order", len(all), want.Len())
	}
}

func TestBatchedConnWritersTogether(t *testing.T) {
	client, server := net.Pipe()
	b := newBatchedConn(client)
	const writers, frames = 8, 500
	got := make(chan []byte)
	go func() {
		all, _ := io.ReadAll(server)
		got <- all
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for range frames {
				// Each frame is whole or not at all: the writer's byte, 9 times.
				if _, err := b.Write(bytes.Repeat([]byte{byte('a' + w)}, 9)); err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.Close()
	all := <-got
	if len(all) != writers*frames*9 {
		t.Fatalf("the peer read %d bytes, want %d", len(all), writers*frames*9)
	}
	for i := 0; i < len(all); i += 9 {
		if !bytes.Equal(all[i:i+9], bytes.Repeat(all[i:i+1], 9)) {
			t.Fatalf("frames interleaved at byte %d: %q", i, all[i:i+9])
		}
	}
}

func TestBatchedConnReportsAFailedWrite(t *testing.T) {
	client, server := net.Pipe()
	b := newBatchedConn(client)
	server.Close()
	// Taken, then failed by the flusher, which stops.
	if _, err := b.Write([]byte("frame")); err != nil {
		t.Fatalf("the first write: %v", err)
	}
	select {
	case <-b.flushed:
	case <-time.After(10 * time.Second):
		t.Fatal("the flusher did not stop on a failed write")
	}
	_, err := b.Write([]byte("frame"))
	if !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("a write after the peer went: %v, want io.ErrClosedPipe", err)
	}
	b.Close()
}

func TestBatchedConnCloseDoesNotHangOnAPeerThatDoesNotRead(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	b := newBatchedConn(client)
	if _, err := b.Write([]byte("GOAWAY")); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	select {
	case <-closed:
	case <-time.After(closeFlushTimeout + 10*time.Second):
		t.Fatal("Close still waiting for a peer that does not read")
	}
	if _, err := b.Write([]byte("more")); err == nil {
		t.Fatal("a write after Close succeeded")
	}
}

// countingConn counts the reads that reach the connection.
type countingConn struct {
	net.Conn
	reads int
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads++
	return c.Conn.Read(p)
}

func TestBufferedReadsTakeFramesThatArrivedTogetherInOneRead(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	// Three HTTP/2 frames as the server's framer reads them: a 9-byte header, then the
	// payload, each read on its own.
	frames := [][]byte{
		append(make([]byte, 9), bytes.Repeat([]byte("a"), 100)...),
		append(make([]byte, 9), bytes.Repeat([]byte("b"), 300)...),
		make([]byte, 9),
	}
	go func() {
		// One write, as a client writes a request's HEADERS and DATA.
		client.Write(bytes.Join(frames, nil))
	}()
	cc := &countingConn{Conn: server}
	r := newBufferedReads(cc)
	for i, f := range frames {
		got := make([]byte, len(f))
		if _, err := io.ReadFull(r, got[:9]); err != nil {
			t.Fatalf("frame %d header: %v", i, err)
		}
		if _, err := io.ReadFull(r, got[9:]); err != nil {
			t.Fatalf("frame %d payload: %v", i, err)
		}
		if !bytes.Equal(got, f) {
			t.Fatalf("frame %d read as %q, want %q", i, got, f)
		}
	}
	if cc.reads != 1 {
		t.Errorf("the frames cost %d reads of the connection, want 1", cc.reads)
	}
}
