package detect

import (
	"bytes"
	"context"
	"io"
	"sort"
	"testing"
	"time"
)

// FuzzDetect sends any stream, in any pieces, and checks that Detect never panics, never reads
// more than MaxPeek, stops reading once it can decide, decides the same however the stream is
// cut, and replays exactly the bytes sent.
func FuzzDetect(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: web\r\n\r\n",
		"CONNECT [fd00::1]:443 HTTP/1.0\r\n",
		"OPTIONS * HTTP/1.1\r\n",
		http2Preface + "\x00\x00\x00\x04\x00\x00\x00\x00\x00",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r",
		string(clientHello),
		"\x16\x03\x04\x40\x00\x01",
		"SSH-2.0-OpenSSH_9.2\r\n",
		"*1\r\n$4\r\nPING\r\n",
		"GET /\r\n",
		"",
	} {
		f.Add([]byte(s), uint8(0), false)
		f.Add([]byte(s), uint8(1), true)
		f.Add([]byte(s), uint8(7), false)
	}
	f.Fuzz(func(t *testing.T, sent []byte, chunk uint8, eof bool) {
		c := &memConn{data: sent, chunk: int(chunk), eof: eof}
		got, pc, err := Detect(context.Background(), c, time.Second)
		if err != nil {
			t.Fatalf("Detect: %v", err)
		}
		if c.total > MaxPeek {
			t.Fatalf("read %d bytes, more than MaxPeek (%d)", c.total, MaxPeek)
		}

		// The reference: the shortest prefix that decides, or none. A decision never changes
		// as bytes are added, so the prefixes that decide are all those from some length on,
		// and a binary search finds it; the checks around it hold classify to that.
		limit := min(len(sent), MaxPeek)
		want, need := Opaque, -1
		if k := sort.Search(limit, func(i int) bool { _, ok := classify(sent[:i+1]); return ok }) + 1; k <= limit {
			want, _ = classify(sent[:k])
			need = k
			if _, ok := classify(sent[:k-1]); ok && k > 1 {
				t.Fatalf("%q decides but %q, one byte shorter, was meant not to", sent[:k], sent[:k-1])
			}
			if p, ok := classify(sent[:limit]); !ok || p != want {
				t.Fatalf("%q decides %v but the whole stream %v, %v", sent[:k], want, p, ok)
			}
		}
		if got != want {
			t.Fatalf("Detect = %v in reads of %v; the stream read whole says %v", got, c.reads, want)
		}
		if need > 0 && len(c.reads) > 0 && c.total-c.reads[len(c.reads)-1] >= need {
			t.Fatalf("reads of %v: Detect went on reading after the first %d bytes had decided", c.reads, need)
		}

		c.eof = true
		all, err := io.ReadAll(pc)
		if err != nil || !bytes.Equal(all, sent) {
			t.Fatalf("replayed %q, %v; want %q", all, err, sent)
		}
	})
}
