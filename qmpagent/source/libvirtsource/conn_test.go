package libvirtsource

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// monitorEvent builds a QEMU monitor event packet as libvirtd sends it.
func monitorEvent(details *string) []byte {
	var body bytes.Buffer
	be := binary.BigEndian
	u32 := func(v uint32) { _ = binary.Write(&body, be, v) }
	str := func(s string) {
		u32(uint32(len(s)))
		body.WriteString(s)
		body.Write(make([]byte, (4-len(s)%4)%4))
	}
	u32(7)         // callbackID
	str("tiny vm") // domain name
	body.Write(make([]byte, 16))
	u32(1)      // id
	str("STOP") // event
	_ = binary.Write(&body, be, uint64(1795275216))
	u32(767455)
	if details == nil {
		u32(0)
	} else {
		u32(1)
		str(*details)
	}
	var pkt bytes.Buffer
	for _, v := range []uint32{uint32(rpcHeaderBytes + body.Len()), qemuProgram, 1, qemuProcDomainMonitorEvent, 2, 0, 0} {
		_ = binary.Write(&pkt, be, v)
	}
	pkt.Write(body.Bytes())
	return pkt.Bytes()
}

func TestFixPacket(t *testing.T) {
	empty := ""
	if got, want := FixPacket(monitorEvent(nil)), monitorEvent(&empty); !bytes.Equal(got, want) {
		t.Errorf("null details:\n got %x\nwant %x", got, want)
	}
	data := `{"guest":false}`
	if pkt := monitorEvent(&data); !bytes.Equal(FixPacket(pkt), pkt) {
		t.Error("a packet with details was changed")
	}
	other := monitorEvent(nil)
	binary.BigEndian.PutUint32(other[4:], 0x20008086) // the remote program
	if !bytes.Equal(FixPacket(other), other) {
		t.Error("another program's packet was changed")
	}
	for n := 0; n < len(other); n++ {
		FixPacket(monitorEvent(nil)[:n]) // cut packets must not panic
	}
}
