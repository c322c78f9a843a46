package main

import (
	"reflect"
	"testing"
)

// --silence-events: empty silences nothing (not the default), blanks are
// trimmed.
func TestSplitList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", []string{}},
		{"RTC_CHANGE", []string{"RTC_CHANGE"}},
		{" RTC_CHANGE, ,BALLOON_CHANGE ,", []string{"RTC_CHANGE", "BALLOON_CHANGE"}},
	} {
		if got := splitList(tc.in); !reflect.DeepEqual(got, tc.want) || got == nil {
			t.Errorf("splitList(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
}
