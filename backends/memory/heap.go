package memory

import "time"

// expiry is an entry's place in an expiryHeap: the time at which the entry
// is garbage whatever else happens to it. Each stored entry that can expire
// embeds one, so updating or deleting the entry fixes or removes it in
// O(log n) and the heap never holds a stale element.
type expiry struct {
	at    time.Time
	index int // position in the heap; -1 when not in one
	owner any // *revocation, *cutoff or *apiToken
}

// expiryHeap is a min-heap of expiries ordered by at.
type expiryHeap []*expiry

func (h expiryHeap) less(i, j int) bool { return h[i].at.Before(h[j].at) }

func (h expiryHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *expiryHeap) push(e *expiry) {
	e.index = len(*h)
	*h = append(*h, e)
	h.up(e.index)
}

// remove takes e out of the heap; it does nothing if e is not in it.
func (h *expiryHeap) remove(e *expiry) {
	i := e.index
	if i < 0 {
		return
	}
	last := len(*h) - 1
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = nil
	*h = (*h)[:last]
	e.index = -1
	if i != last && !h.down(i) {
		h.up(i)
	}
}

// fix restores the order after e.at changed.
func (h *expiryHeap) fix(e *expiry) {
	if e.index < 0 {
		return
	}
	if !h.down(e.index) {
		h.up(e.index)
	}
}

// min returns the earliest expiry, or nil.
func (h expiryHeap) min() *expiry {
	if len(h) == 0 {
		return nil
	}
	return h[0]
}

func (h expiryHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(j, i) {
			return
		}
		h.swap(i, j)
		j = i
	}
}

// down moves element i towards the leaves and reports whether it moved.
func (h expiryHeap) down(i0 int) bool {
	i, n := i0, len(h)
	for {
		l := 2*i + 1
		if l >= n || l < 0 {
			break
		}
		j := l
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}
