package conformance

import "testing"

// Harness.ScaleRecords: zero is the default, other values are rounded up
// to a multiple of 6 (the checks sort records into six kinds by index).
func TestScaleSize(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want int }{
		{0, DefaultScaleRecords},
		{MinScaleRecords, MinScaleRecords},
		{MinScaleRecords + 1, MinScaleRecords + 6},
		{10001, 10002},
	} {
		if got := scaleSize(t, c.in); got != c.want {
			t.Errorf("scaleSize(%d) = %d, want %d", c.in, got, c.want)
		}
	}
	if MinScaleRecords%6 != 0 || DefaultScaleRecords%6 != 0 || MinScaleRecords/2 <= 1000 {
		t.Errorf("MinScaleRecords %d, DefaultScaleRecords %d: multiples of 6 whose expired half outnumbers a cleanup batch of 1,000", MinScaleRecords, DefaultScaleRecords)
	}
}
