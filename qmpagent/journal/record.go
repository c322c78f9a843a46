package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// A record on disk is a header of 8 bytes, the payload's length and its
// CRC-32C (little endian), then the payload: one byte of operation, the
// key's length (uvarint), the key, and for a put the value (the rest).
const headerSize = 8

// MaxRecord bounds a record's payload: far more than a VM's facts or an
// Event series (the apiserver takes no object over 1.5 MiB). A header
// saying more is corruption, not a record to allocate for.
const MaxRecord = 4 << 20

const (
	opPut    byte = 1
	opDelete byte = 2
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// record is one decoded operation.
type record struct {
	op    byte
	key   string
	value []byte
}

// appendRecord appends the framed record to buf.
func appendRecord(buf []byte, op byte, key string, value []byte) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, headerSize)...)
	buf = append(buf, op)
	buf = binary.AppendUvarint(buf, uint64(len(key)))
	buf = append(buf, key...)
	buf = append(buf, value...)
	payload := buf[start+headerSize:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, crcTable))
	return buf
}

// errTorn says the data ends inside a record: an append the process did
// not finish (it was killed), which is cut off, not reported.
var errTorn = errors.New("torn record at the end")

// CorruptError says a record's bytes are not what was written: its length
// or checksum is wrong, or its payload does not parse. What follows it is
// not read: without a trustworthy length, no later record can be found.
type CorruptError struct {
	Offset int64
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("corrupt journal record at byte %d: %s", e.Offset, e.Reason)
}

// decodeRecord reads the record at the start of data and returns it and its
// size on disk. It returns errTorn when data ends inside the record and a
// *CorruptError when the record is damaged; offset only labels the error.
func decodeRecord(data []byte, offset int64) (record, int, error) {
	if len(data) < headerSize {
		return record{}, 0, errTorn
	}
	n := binary.LittleEndian.Uint32(data)
	sum := binary.LittleEndian.Uint32(data[4:])
	if n == 0 || n > MaxRecord {
		return record{}, 0, &CorruptError{offset, fmt.Sprintf("length %d", n)}
	}
	if uint64(len(data)-headerSize) < uint64(n) {
		return record{}, 0, errTorn
	}
	payload := data[headerSize : headerSize+int(n)]
	if crc32.Checksum(payload, crcTable) != sum {
		return record{}, 0, &CorruptError{offset, "checksum mismatch"}
	}
	op := payload[0]
	klen, w := binary.Uvarint(payload[1:])
	if w <= 0 || klen > uint64(len(payload)-1-w) {
		return record{}, 0, &CorruptError{offset, "bad key length"}
	}
	key := string(payload[1+w : 1+w+int(klen)])
	value := payload[1+w+int(klen):]
	switch {
	case op == opPut:
	case op == opDelete && len(value) == 0:
		value = nil
	default:
		return record{}, 0, &CorruptError{offset, fmt.Sprintf("operation %d", op)}
	}
	return record{op: op, key: key, value: append([]byte(nil), value...)}, headerSize + int(n), nil
}

// replay applies the records of data to live and returns how many bytes
// of data are whole records, how many records they are, and the error
// that stopped it: nil at the end, errTorn for a torn tail, a
// *CorruptError for damage.
func replay(data []byte, live map[string][]byte) (int64, int, error) {
	var off int64
	records := 0
	for off < int64(len(data)) {
		r, n, err := decodeRecord(data[off:], off)
		if err != nil {
			return off, records, err
		}
		records++
		if r.op == opPut {
			live[r.key] = r.value
		} else {
			delete(live, r.key)
		}
		off += int64(n)
	}
	return off, records, nil
}

// readAll reads r whole, refusing more than limit bytes.
func readAll(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("journal larger than %d bytes", limit)
	}
	return data, err
}
