package console

import (
	"strings"
	"testing"
	"time"
)

func TestNiceCeil(t *testing.T) {
	for _, tt := range []struct{ in, want int64 }{{0, 4}, {3, 4}, {5, 8}, {9, 20}, {21, 40}, {41, 60}, {100, 100}, {101, 200}, {12345, 20000}} {
		if got := niceCeil(tt.in); got != tt.want || got%4 != 0 {
			t.Errorf("niceCeil(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestChart(t *testing.T) {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	bs := make([]bucket, 7*24)
	for i := range bs {
		bs[i].Start = start.Add(time.Duration(i) * time.Hour)
	}
	bs[5].Allowed, bs[5].Rejected = 30, 10
	svg := string(chart(bs, time.Hour))
	if n := strings.Count(svg, "<rect"); n != 2*len(bs) {
		t.Errorf("%d bars, want %d", n, 2*len(bs))
	}
	for _, want := range []string{"Requests per hour: 30 allowed, 10 rejected in all", "2026-12-01 05:00 UTC: 30 allowed, 10 rejected", ">Dec 7<", ">40<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("the chart lacks %q", want)
		}
	}
	if strings.Contains(svg, "style") || strings.Contains(svg, "script") {
		t.Error("the chart has inline style or script")
	}
	if empty := string(chart(nil, time.Hour)); !strings.Contains(empty, "0 allowed, 0 rejected") {
		t.Errorf("an empty chart: %s", empty)
	}
}
