//go:build linux

package ws

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batcher writes to many connections with one system call: an io_uring
// submission of one send per connection, where a loop of send(2) would
// enter the kernel once per connection. In this project's VM the kernel
// entry and exit were about 40 % of a small send's CPU (docs/performance.md).
// The Engine.IO server makes one, on first use, for the small broadcasts a
// goroutine writes itself (engineio.Server.Broadcast), and closes it with
// the server.
//
// NewBatcher sets up its rings and probes the running kernel for what the
// batch needs (IORING_OP_SEND, Linux 5.6; one mapping for both rings, 5.4).
// Where anything is missing, or io_uring cannot be set up at all (seccomp,
// io_uring_disabled), or the kernel later refuses the sends, each
// connection is written with WriteFramesNow instead, and Path says so and
// why. No send is lost to the fallback: an item the ring refused is
// written with send(2) in the same call. The zero Batcher has no rings: it
// writes each item with its own send(2).
type Batcher struct {
	entries int         // submission queue entries: the most items a batch takes
	rings   chan *uring // idle rings; nil on the fallback path from the start
	all     []*uring

	fallback atomic.Pointer[string] // why the fallback is used; nil while io_uring is
}

// NewBatcher sets up a Batcher's rings (4 of 256 entries: batches in
// flight at once; more write one by one).
func NewBatcher() *Batcher {
	return newBatcher(batcherConfig{entries: ringEntries, rings: ringCount, op: ioringOpSend})
}

// Send writes each item's frames as WriteFramesNow would: as much as the
// socket takes at once; the rest goes to a background write when the item
// has a Done (see SendItem), or is returned. The descriptors stay open for
// the submission (each connection's RawConn.Control is entered, nested,
// around it), so a connection closed meanwhile cannot have its descriptor
// number reused under the batch. A Conn may appear in one item only.
func (b *Batcher) Send(items []SendItem) {
	b.send(items)
	settle(items)
}

// Path reports how Send writes on this machine: BatchIOURing, or BatchSend
// with the reason io_uring is not used. serve logs it at start.
func (b *Batcher) Path() (path, reason string) {
	if why := b.fallback.Load(); why != nil {
		return BatchSend, *why
	}
	if b.rings == nil {
		return BatchSend, "no rings (the zero Batcher)"
	}
	return BatchIOURing, ""
}

// Close waits for the batches in flight and releases the rings; later
// Sends write one send(2) per connection. Not safe to call concurrently
// with itself.
func (b *Batcher) Close() error {
	b.fall("closed")
	for range b.all {
		(<-b.rings).close()
	}
	b.all = nil
	return nil
}

// The io_uring ABI (include/uapi/linux/io_uring.h). golang.org/x/sys/unix has
// the system call numbers of every architecture but not these; they are the
// kernel's stable ABI, and the opcode is probed on the running kernel
// (IORING_REGISTER_PROBE) before the first batch.
const (
	ioringOpSend         = 26         // IORING_OP_SEND, Linux 5.6
	ioringEnterGetEvents = 1 << 0     // IORING_ENTER_GETEVENTS
	ioringOffSQEs        = 0x10000000 // IORING_OFF_SQES
	ioringFeatSingleMmap = 1 << 0     // IORING_FEAT_SINGLE_MMAP, Linux 5.4
	ioringRegisterProbe  = 8          // IORING_REGISTER_PROBE, Linux 5.6
	ioUringOpSupported   = 1 << 0     // IO_URING_OP_SUPPORTED
	sqeSize              = 64
	cqeSize              = 16
)

const (
	ringEntries   = 256 // engineio's maxInlineFlush
	ringCount     = 4   // batches in flight at once; more write one by one
	maxBatchBytes = maxCopyCoalesce
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

// uringProbe is struct io_uring_probe with room for every opcode.
type uringProbe struct {
	lastOp, opsLen uint8
	resv           uint16
	resv2          [3]uint32
	ops            [256]struct {
		op, resv uint8
		flags    uint16
		resv2    uint32
	}
}

// batcherConfig sets up a batcher. Tests change op and skipProbe to force
// the fallback paths on a kernel that has everything.
type batcherConfig struct {
	entries   uint32 // submission queue entries per ring
	rings     int
	op        uint8 // the send opcode submitted (IORING_OP_SEND)
	skipProbe bool  // submit op without asking the kernel first
}

// errSendRefused marks an item whose send the ring refused: it is written
// with send(2) instead.
var errSendRefused = errors.New("ws: io_uring refused the send")

func newBatcher(cfg batcherConfig) *Batcher {
	b := &Batcher{}
	r, err := newURing(cfg.entries, cfg.op)
	if err != nil {
		b.fall(err.Error())
		return b
	}
	if !cfg.skipProbe {
		if err := r.probe(cfg.op); err != nil {
			r.close()
			b.fall(err.Error())
			return b
		}
	}
	b.entries = int(r.p.sqEntries)
	b.rings = make(chan *uring, max(cfg.rings, 1))
	b.rings <- r
	b.all = append(b.all, r)
	for range cap(b.rings) - 1 {
		if r, err := newURing(cfg.entries, cfg.op); err == nil {
			b.rings <- r
			b.all = append(b.all, r)
		}
	}
	return b
}

// fall switches b to writing each item on its own, for the first reason
// given.
func (b *Batcher) fall(why string) { b.fallback.CompareAndSwap(nil, &why) }

// take returns an idle ring, or nil (none free, or the fallback path).
func (b *Batcher) take() *uring {
	if b.rings == nil || b.fallback.Load() != nil {
		return nil
	}
	select {
	case r := <-b.rings:
		return r
	default:
		return nil
	}
}

// uring is one submission/completion ring pair, used by one batch at a time.
type uring struct {
	fd    int
	rings []byte // SQ and CQ rings (IORING_FEAT_SINGLE_MMAP)
	sqes  []byte
	p     uringParams
	op    uint8 // the send opcode (the batcher's)

	refusal error // why the kernel refused the last batch's sends; nil if it did not

	// The batch holdAndSubmit works on, and holders[k], the function it
	// hands to the RawConn.Control of items[sub[k]]: made once per depth
	// and kept, as a closure made per connection and batch was one heap
	// allocation per send (ADR 0030).
	items   []SendItem
	sub     []int
	holders []func(fd uintptr)
}

func newURing(entries uint32, op uint8) (*uring, error) {
	var p uringParams
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &uring{fd: int(fd), p: p, op: op}
	if p.features&ioringFeatSingleMmap == 0 {
		unix.Close(r.fd)
		return nil, errors.New("the kernel lacks IORING_FEAT_SINGLE_MMAP (Linux 5.4)")
	}
	size := max(int(p.sq.array+p.sqEntries*4), int(p.cq.cqes+p.cqEntries*cqeSize))
	var err error
	if r.rings, err = unix.Mmap(r.fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		unix.Close(r.fd)
		return nil, fmt.Errorf("io_uring rings mmap: %w", err)
	}
	if r.sqes, err = unix.Mmap(r.fd, ioringOffSQEs, int(p.sqEntries)*sqeSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		unix.Munmap(r.rings)
		unix.Close(r.fd)
		return nil, fmt.Errorf("io_uring entries mmap: %w", err)
	}
	return r, nil
}

func (r *uring) close() {
	unix.Munmap(r.sqes)
	unix.Munmap(r.rings)
	unix.Close(r.fd)
}

// probe asks the kernel whether it supports op. Kernels before 5.6 have
// neither the probe nor IORING_OP_SEND: the probe's EINVAL means the same.
func (r *uring) probe(op uint8) error {
	var p uringProbe
	_, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), ioringRegisterProbe,
		uintptr(unsafe.Pointer(&p)), uintptr(len(p.ops)), 0, 0)
	if errno != 0 {
		return fmt.Errorf("io_uring probe (IORING_REGISTER_PROBE, Linux 5.6): %w", errno)
	}
	if int(op) >= int(p.opsLen) || p.ops[op].flags&ioUringOpSupported == 0 {
		return fmt.Errorf("the kernel lacks %s", opName(op))
	}
	return nil
}

func opName(op uint8) string {
	if op == ioringOpSend {
		return "IORING_OP_SEND (Linux 5.6)"
	}
	return fmt.Sprintf("io_uring opcode %d", op)
}

func (r *uring) word(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&r.rings[off])) }

// send writes each item's frames (see Send), returning each rest. Items
// whose connection cannot take part (TLS, over 32 KiB in all) are written
// with WriteFramesNow.
func (b *Batcher) send(items []SendItem) {
	r := b.take()
	if r == nil || len(items) > b.entries {
		if r != nil {
			b.rings <- r
		}
		for i := range items {
			items[i].Rest, items[i].Err = items[i].Conn.WriteFramesNow(items[i].Frames)
		}
		return
	}
	defer func() { b.rings <- r }()

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
		if c.isClosed() {
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
		if r.refusal != nil {
			// The kernel refused the batch, or some of its sends (an opcode
			// or a field it does not know): the same would happen to every
			// later batch.
			b.fall(r.refusal.Error())
			r.refusal = nil
		}
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
	r.items, r.sub = items, sub
	for len(r.holders) < len(sub) {
		r.holders = append(r.holders, r.holder(len(r.holders)))
	}
	r.hold(k)
	r.items, r.sub = nil, nil
}

// holder returns the function that records the descriptor of
// items[sub[k]] and holds the next one.
func (r *uring) holder(k int) func(fd uintptr) {
	return func(fd uintptr) {
		r.items[r.sub[k]].fd = fd
		r.hold(k + 1)
	}
}

// hold is holdAndSubmit's step k, on the batch r.items, r.sub.
func (r *uring) hold(k int) {
	items, sub := r.items, r.sub
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
		r.refusal = r.submit(items, live)
		// What the ring did not send is written here, while the locks and
		// descriptors are held: nothing is lost to a kernel that lacks what
		// the probe said it has.
		for _, i := range live {
			if it := &items[i]; it.Err == errSendRefused {
				it.Rest, it.Err = it.Conn.writeFramesNowLocked(it.Frames)
			}
		}
		return
	}
	it := &items[sub[k]]
	if err := it.Conn.rc.Control(r.holders[k]); err != nil { // closed meanwhile
		it.Rest, it.Err = it.Frames, ErrClosed
		r.hold(k + 1)
	}
}

// submit sends items[sub] (descriptors resolved) with one io_uring_enter
// and records each result. It returns an error when the kernel refused the
// whole submission or some of its sends as unknown or unsupported; the items
// not sent for that reason are marked errSendRefused.
func (r *uring) submit(items []SendItem, sub []int) error {
	op := r.op
	var refused error
	tailp := r.word(r.p.sq.tail)
	tail := atomic.LoadUint32(tailp)
	mask := *r.word(r.p.sq.mask)
	for k, i := range sub {
		it := &items[i]
		slot := (tail + uint32(k)) & mask
		sqe := r.sqes[slot*sqeSize : slot*sqeSize+sqeSize]
		clear(sqe)
		sqe[0] = op
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
		// A kernel that fails an entry at submission (an unknown opcode)
		// stops there and returns without waiting: the loop submits the
		// rest with the next call.
		submitted, _, errno := unix.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), uintptr(n-done), ioringEnterGetEvents, 0, 0)
		switch errno {
		case 0:
			toSubmit -= int(submitted)
		case unix.EINTR, unix.EAGAIN, unix.EBUSY:
		default:
			if toSubmit == n {
				// Nothing taken: withdraw the entries.
				atomic.StoreUint32(tailp, tail)
				for _, i := range sub {
					items[i].Err = errSendRefused
				}
				return fmt.Errorf("io_uring_enter: %w", errno)
			}
			// Entries were taken and the ring fails: their buffers may still
			// be read, and the ring cannot be reused. Not expected; stop
			// rather than risk sending freed memory.
			panic("ws: io_uring_enter failed with sends in flight: " + errno.Error())
		}
		head := atomic.LoadUint32(headp)
		ctail := atomic.LoadUint32(ctailp)
		for ; head != ctail; head++ {
			cqe := r.rings[r.p.cq.cqes+(head&cmask)*cqeSize:]
			k := int(*(*uint64)(unsafe.Pointer(&cqe[0])))
			res := *(*int32)(unsafe.Pointer(&cqe[8]))
			it := &items[sub[k]]
			switch {
			case res == -int32(unix.EAGAIN):
				it.Rest, it.Err = it.Frames, ErrWouldBlock
			case res == -int32(unix.EINVAL), res == -int32(unix.EOPNOTSUPP):
				// Nothing was sent: the kernel does not know the opcode or
				// a field. send(2) will tell what the socket says.
				it.Err = errSendRefused
				if refused == nil {
					refused = fmt.Errorf("the kernel refused %s at run time: %w", opName(op), syscall.Errno(-res))
				}
			case res < 0:
				it.Rest, it.Err = it.Frames, syscall.Errno(-res)
			case int(res) < len(it.buf):
				it.Rest, it.Err = skipBytes(it.Frames, int(res)), ErrWouldBlock
			}
			done++
		}
		atomic.StoreUint32(headp, head)
	}
	return refused
}
