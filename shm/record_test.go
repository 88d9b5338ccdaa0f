package shm

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Test records: producer id, sequence number, a payload derived from both,
// and a CRC over everything, so a consumer can tell a torn or overwritten
// record from a good one.
func makeRecord(producer, seq uint32, payload int) []byte {
	b := make([]byte, 8+payload+4)
	binary.LittleEndian.PutUint32(b, producer)
	binary.LittleEndian.PutUint32(b[4:], seq)
	x := producer*2654435761 ^ seq*40503
	for i := 8; i < 8+payload; i++ {
		x = x*1103515245 + 12345
		b[i] = byte(x >> 16)
	}
	binary.LittleEndian.PutUint32(b[8+payload:], crc32.ChecksumIEEE(b[:8+payload]))
	return b
}

func checkRecord(b []byte) (producer, seq uint32, err error) {
	if len(b) < 12 {
		return 0, 0, fmt.Errorf("record of %d bytes", len(b))
	}
	n := len(b) - 4
	if crc32.ChecksumIEEE(b[:n]) != binary.LittleEndian.Uint32(b[n:]) {
		return 0, 0, fmt.Errorf("record %x...: bad checksum", b[:8])
	}
	return binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:]), nil
}
