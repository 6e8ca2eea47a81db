package membership

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
)

func header(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

func TestReadFrame(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []byte
		want    [][]byte
		wantErr error
	}{
		{"one frame", append(header(3), "abc"...), [][]byte{[]byte("abc")}, io.EOF},
		{"two frames", append(append(header(1), 'a'), append(header(2), "bc"...)...), [][]byte{[]byte("a"), []byte("bc")}, io.EOF},
		{"nothing", nil, nil, io.EOF},
		{"header cut short", []byte{0, 0}, nil, io.ErrUnexpectedEOF},
		{"body cut short", append(header(5), "ab"...), nil, io.ErrUnexpectedEOF},
		{"header only", header(5), nil, io.ErrUnexpectedEOF},
		{"empty frame", header(0), nil, errEmptyFrame},
		{"largest frame", append(header(MaxPacketSize), make([]byte, MaxPacketSize)...), [][]byte{make([]byte, MaxPacketSize)}, io.EOF},
		{"one byte too large", append(header(MaxPacketSize+1), make([]byte, MaxPacketSize+1)...), nil, errFrameTooLarge},
		{"4 GiB announced", header(1<<32 - 1), nil, errFrameTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bytes.NewReader(tc.in)
			var got [][]byte
			var err error
			for {
				var f []byte
				if f, err = readFrame(r); err != nil {
					break
				}
				got = append(got, f)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d frames, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if !bytes.Equal(got[i], tc.want[i]) {
					t.Errorf("frame %d: %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// A frame announcing gigabytes is refused before anything of its size is allocated.
func TestReadFrameDoesNotAllocateWhatItRefuses(t *testing.T) {
	in := header(1<<32 - 1)
	var r bytes.Reader
	const runs = 100
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		r.Reset(in)
		if _, err := readFrame(&r); !errors.Is(err, errFrameTooLarge) {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	// The error and its message, some hundred bytes a run; not a buffer.
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 1024 {
		t.Errorf("%d bytes allocated a refusal", per)
	}
}

func TestAppendFrameRefusesWhatReadFrameWould(t *testing.T) {
	if _, err := appendFrame(nil, nil); !errors.Is(err, errEmptyFrame) {
		t.Errorf("empty: %v", err)
	}
	if _, err := appendFrame(nil, make([]byte, MaxPacketSize+1)); !errors.Is(err, errFrameTooLarge) {
		t.Errorf("too large: %v", err)
	}
}

// FuzzReadFrame reads frames from what a peer might send: it must never panic, never return
// a frame over MaxPacketSize, and what it returns must be the input's frames, byte for byte.
func FuzzReadFrame(f *testing.F) {
	f.Add(append(header(3), "abc"...))
	f.Add(append(append(header(1), 'a'), append(header(2), "bc"...)...))
	f.Add(header(0))
	f.Add(header(MaxPacketSize + 1))
	f.Add(header(1<<32 - 1))
	f.Add([]byte{0, 0, 1})
	f.Add(append(header(10), "short"...))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		var again []byte
		for {
			frame, err := readFrame(r)
			if err != nil {
				if len(in) > 0 && err == io.EOF && !bytes.Equal(again, in) {
					t.Fatalf("clean end, but the frames re-encode to %x, not %x", again, in)
				}
				return
			}
			if len(frame) == 0 || len(frame) > MaxPacketSize {
				t.Fatalf("a frame of %d bytes", len(frame))
			}
			if again, err = appendFrame(again, frame); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(in, again) {
				t.Fatalf("frames re-encode to %x, not a prefix of the input", again)
			}
		}
	})
}
