//go:build linux

package ws

import (
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// SendBatch writes to many connections with one system call: an io_uring
// submission of one send per connection, where a loop of send(2) would
// enter the kernel once per connection. In this project's VM the kernel
// entry and exit were about 40 % of a small send's CPU (docs/performance.md).
// It is used for the small broadcasts a goroutine writes itself
// (engineio.Server.ReleaseWrites); where io_uring is not available (old
// kernel, seccomp) each connection is written with WriteFramesNow.
//
// Each item's frames are written as WriteFramesNow would: as much as the
// socket takes at once, the rest returned. The descriptors stay open for the
// submission (each connection's RawConn.Control is entered, nested, around
// it), so a connection closed meanwhile cannot have its descriptor number
// reused under the batch.

const (
	sysIOURingSetup = 425
	sysIOURingEnter = 426
	ioringOpSend    = 26
	ioringEnterWait = 1 // IORING_ENTER_GETEVENTS
	ioringOffSQEs   = 0x10000000
	ringEntries     = 256 // engineio's maxInlineFlush
	maxBatchBytes   = maxCopyCoalesce
)

type sqRingOffsets struct {
	head, tail, mask, entries, flags, dropped, array, resv1 uint32
	user                                                    uint64
}
type cqRingOffsets struct {
	head, tail, mask, entries, overflow, cqes, flags, resv1 uint32
	user                                                    uint64
}
type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sq                                                                     sqRingOffsets
	cq                                                                     cqRingOffsets
}

// uring is one submission/completion ring pair, used by one batch at a time.
type uring struct {
	fd    int
	rings []byte // SQ and CQ rings (IORING_FEAT_SINGLE_MMAP)
	sqes  []byte
	p     uringParams
}

var (
	ringsOnce sync.Once
	rings     chan *uring // idle rings; nil when io_uring is unavailable
)

// takeRing returns an idle ring, or nil (none free, or no io_uring).
func takeRing() *uring {
	ringsOnce.Do(func() {
		r, err := newURing(ringEntries)
		if err != nil {
			return
		}
		rings = make(chan *uring, 4)
		rings <- r
		for range cap(rings) - 1 {
			if r, err := newURing(ringEntries); err == nil {
				rings <- r
			}
		}
	})
	if rings == nil {
		return nil
	}
	select {
	case r := <-rings:
		return r
	default:
		return nil
	}
}

func newURing(entries uint32) (*uring, error) {
	var p uringParams
	fd, _, errno := syscall.Syscall(sysIOURingSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, errno
	}
	r := &uring{fd: int(fd), p: p}
	size := max(int(p.sq.array+p.sqEntries*4), int(p.cq.cqes+p.cqEntries*16))
	var err error
	if r.rings, err = syscall.Mmap(r.fd, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE); err != nil {
		syscall.Close(r.fd)
		return nil, err
	}
	if r.sqes, err = syscall.Mmap(r.fd, ioringOffSQEs, int(p.sqEntries)*64, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE); err != nil {
		syscall.Munmap(r.rings)
		syscall.Close(r.fd)
		return nil, err
	}
	return r, nil
}

func (r *uring) word(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&r.rings[off])) }

// SendBatch writes each item's frames (see the type's comment). A Conn may
// appear in one item only. Items whose connection cannot take part (TLS,
// over 32 KiB in all) are written with WriteFramesNow.
func SendBatch(items []SendItem) {
	r := takeRing()
	if r == nil || len(items) > ringEntries {
		sendEach(items)
		return
	}
	defer func() { rings <- r }()

	bp := getBuf(64 << 10)
	defer putBuf(bp)
	sub := make([]int, 0, len(items)) // the items in the submission
	for i := range items {
		it := &items[i]
		c := it.Conn
		total := 0
		for _, f := range it.Frames {
			total += len(f)
		}
		// Several frames are copied into the shared buffer, which must not
		// grow (the kernel reads it): an item that does not fit goes alone.
		fits := len(it.Frames) == 1 || len(*bp)+total <= cap(*bp)
		if c.rc == nil || total == 0 || total > maxBatchBytes || !fits {
			it.Rest, it.Err = c.WriteFramesNow(it.Frames)
			continue
		}
		c.wmu.Lock()
		if c.closed.Load() {
			c.wmu.Unlock()
			it.Rest, it.Err = it.Frames, ErrClosed
			continue
		}
		c.clearWriteDeadlineLocked()
		it.locked = true
		if len(it.Frames) == 1 {
			it.buf = it.Frames[0]
		} else {
			start := len(*bp)
			for _, f := range it.Frames {
				*bp = append(*bp, f...)
			}
			it.buf = (*bp)[start:len(*bp):len(*bp)]
		}
		sub = append(sub, i)
	}
	if len(sub) > 0 {
		holdAndSubmit(r, items, sub, 0)
	}
	for i := range items {
		if it := &items[i]; it.locked {
			it.locked, it.buf = false, nil
			it.Conn.wmu.Unlock()
		}
	}
}

// holdAndSubmit enters the RawConn.Control of items[sub[k:]] one inside the
// other, so every descriptor stays open, then submits the sends. A
// connection whose descriptor is already gone gets ErrClosed and is left out.
func holdAndSubmit(r *uring, items []SendItem, sub []int, k int) {
	if k == len(sub) {
		live := sub[:0] // the outer calls are done reading sub
		for _, i := range sub {
			if items[i].Err == nil {
				live = append(live, i)
			}
		}
		if len(live) == 0 {
			return
		}
		if err := r.submit(items, live); err != nil {
			// The ring refused the batch before taking any of it: write
			// each one here (their locks and descriptors are held).
			for _, i := range live {
				it := &items[i]
				it.Rest, it.Err = it.Conn.writeFramesNowLocked(it.Frames)
			}
		}
		return
	}
	it := &items[sub[k]]
	err := it.Conn.rc.Control(func(fd uintptr) {
		it.fd = fd
		holdAndSubmit(r, items, sub, k+1)
	})
	if err != nil { // closed meanwhile
		it.Rest, it.Err = it.Frames, ErrClosed
		holdAndSubmit(r, items, sub, k+1)
	}
}

// submit sends items[sub] (descriptors resolved) with one io_uring_enter
// and records each result. An error means nothing was submitted.
func (r *uring) submit(items []SendItem, sub []int) error {
	tailp := r.word(r.p.sq.tail)
	tail := atomic.LoadUint32(tailp)
	mask := *r.word(r.p.sq.mask)
	for k, i := range sub {
		it := &items[i]
		slot := (tail + uint32(k)) & mask
		sqe := r.sqes[slot*64 : slot*64+64]
		clear(sqe)
		sqe[0] = ioringOpSend
		*(*int32)(unsafe.Pointer(&sqe[4])) = int32(it.fd)
		*(*uint64)(unsafe.Pointer(&sqe[16])) = uint64(uintptr(unsafe.Pointer(&it.buf[0])))
		*(*uint32)(unsafe.Pointer(&sqe[24])) = uint32(len(it.buf))
		*(*uint32)(unsafe.Pointer(&sqe[28])) = sendFlags
		*(*uint64)(unsafe.Pointer(&sqe[32])) = uint64(k)
		*r.word(r.p.sq.array + slot*4) = slot
	}
	atomic.StoreUint32(tailp, tail+uint32(len(sub)))
	n := len(sub)
	toSubmit, done := n, 0
	headp, ctailp := r.word(r.p.cq.head), r.word(r.p.cq.tail)
	cmask := *r.word(r.p.cq.mask)
	for done < n {
		submitted, _, errno := syscall.RawSyscall6(sysIOURingEnter, uintptr(r.fd), uintptr(toSubmit), uintptr(n-done), ioringEnterWait, 0, 0)
		switch errno {
		case 0:
			toSubmit -= int(submitted)
		case syscall.EINTR, syscall.EAGAIN, syscall.EBUSY:
		default:
			if toSubmit == n {
				// Nothing taken: withdraw the entries.
				atomic.StoreUint32(tailp, tail)
				return errno
			}
			// Entries were taken and the ring fails: their buffers may still
			// be read, and the ring cannot be reused. Not expected; stop
			// rather than risk sending freed memory.
			panic("ws: io_uring_enter failed with sends in flight: " + errno.Error())
		}
		head := atomic.LoadUint32(headp)
		ctail := atomic.LoadUint32(ctailp)
		for ; head != ctail; head++ {
			cqe := r.rings[r.p.cq.cqes+(head&cmask)*16:]
			k := int(*(*uint64)(unsafe.Pointer(&cqe[0])))
			res := *(*int32)(unsafe.Pointer(&cqe[8]))
			it := &items[sub[k]]
			switch {
			case res == -int32(syscall.EAGAIN):
				it.Rest, it.Err = it.Frames, ErrWouldBlock
			case res < 0:
				it.Rest, it.Err = it.Frames, syscall.Errno(-res)
			case int(res) < len(it.buf):
				it.Rest, it.Err = skipBytes(it.Frames, int(res)), ErrWouldBlock
			}
			done++
		}
		atomic.StoreUint32(headp, head)
	}
	return nil
}

// uringAvailable reports whether SendBatch can use io_uring here.
func uringAvailable() bool {
	if r := takeRing(); r != nil {
		rings <- r
		return true
	}
	return false
}
