package journal

import (
	"errors"
	"testing"
)

// FuzzReplay feeds arbitrary bytes to the record reader: it must never
// panic, must stop at a whole-record boundary, and whatever it accepted
// must read the same when re-encoded.
func FuzzReplay(f *testing.F) {
	var seed []byte
	seed = appendRecord(seed, opPut, "a", []byte(`{"count":1}`))
	seed = appendRecord(seed, opDelete, "a", nil)
	seed = appendRecord(seed, opPut, "b", nil)
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		live := map[string][]byte{}
		good, _, err := replay(data, live)
		var corrupt *CorruptError
		if err != nil && !errors.Is(err, errTorn) && !errors.As(err, &corrupt) {
			t.Fatalf("unexpected error %v", err)
		}
		if good < 0 || good > int64(len(data)) {
			t.Fatalf("good %d of %d bytes", good, len(data))
		}
		again := map[string][]byte{}
		n, _, err := replay(data[:good], again)
		if err != nil || n != good || len(again) != len(live) {
			t.Fatalf("the accepted prefix does not replay alike: %d %v", n, err)
		}
	})
}
