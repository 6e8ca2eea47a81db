package membership

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxPacketSize caps one framed packet. memberlist keeps its packets under its UDP buffer
// size (packetBufferSize here), so a legitimate frame is a few KiB at most; anything larger
// is a broken or hostile peer, and its connection is closed before a byte of the frame is
// allocated.
const MaxPacketSize = 64 << 10

// frameHeaderSize is the frame's length prefix: 4 bytes, big endian.
const frameHeaderSize = 4

// errFrameTooLarge is what readFrame says of a length prefix over MaxPacketSize.
var errFrameTooLarge = errors.New("frame larger than MaxPacketSize")

// errEmptyFrame is what readFrame says of a zero length prefix: memberlist never sends an
// empty packet.
var errEmptyFrame = errors.New("empty frame")

// appendFrame appends p with its length prefix to dst. It refuses what readFrame would.
func appendFrame(dst, p []byte) ([]byte, error) {
	if len(p) == 0 {
		return dst, errEmptyFrame
	}
	if len(p) > MaxPacketSize {
		return dst, fmt.Errorf("%w: %d bytes", errFrameTooLarge, len(p))
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(p)))
	return append(dst, p...), nil
}

// readFrame reads one frame from r and returns its payload in a new slice (memberlist keeps
// packets it is handed). It allocates only after the length prefix passed the cap, so a peer
// cannot make it allocate more than MaxPacketSize per frame. io.EOF means r ended cleanly
// between frames; io.ErrUnexpectedEOF that it ended inside one.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [frameHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	switch {
	case n == 0:
		return nil, errEmptyFrame
	case n > MaxPacketSize:
		return nil, fmt.Errorf("%w: the peer announced %d bytes", errFrameTooLarge, n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}
