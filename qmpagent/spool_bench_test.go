package qmpagent

import (
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vmevents/vmevents/qmpagent/model"
)

// BenchmarkPublish is what the journal adds to each occurrence the agent
// reads: one series snapshot saved ahead (the Event writer is not run).
func BenchmarkPublish(b *testing.B) {
	for _, spooled := range []bool{false, true} {
		name := "memory only"
		if spooled {
			name = "journal"
		}
		b.Run(name, func(b *testing.B) {
			e := NewEvents(nil, "node")
			if spooled {
				if _, err := e.UseSpool(filepath.Join(b.TempDir(), "events"), spoolEntries, nil); err != nil {
					b.Fatal(err)
				}
			}
			ref := corev1.ObjectReference{Kind: "VirtualMachine", Namespace: "default", Name: "vm", UID: "uid"}
			occ := model.Occurrence{Time: time.Now(), Action: "BLOCK_IO_ERROR", Reason: "BlockIOError", Warning: true, Note: "a disk error on drive0", Series: "drive0"}
			b.ResetTimer()
			for range b.N {
				e.Publish(ref, occ)
			}
		})
	}
}

// BenchmarkSaveAhead is what the journal adds to each facts update: one
// snapshot of a VM's facts saved ahead.
func BenchmarkSaveAhead(b *testing.B) {
	s, err := NewSpool[types.NamespacedName, model.Facts](b.TempDir(), spoolEntries)
	if err != nil {
		b.Fatal(err)
	}
	c := NewCoalescer[types.NamespacedName, model.Facts]("bench", time.Second, nil)
	c.UseSpool(s, nil)
	var f model.Facts
	for _, n := range []string{"RESUME", "STOP", "RESET", "BLOCK_IO_ERROR", "WATCHDOG", "RTC_CHANGE"} {
		f.Count(n, 12345)
	}
	key := types.NamespacedName{Namespace: "default", Name: "vm"}
	b.ResetTimer()
	for range b.N {
		c.SaveAhead(key, f)
	}
}
