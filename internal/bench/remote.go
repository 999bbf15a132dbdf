package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
)

// shardHandle is a shard as the coordinator drives it: in this process
// (localShard) or in a child `eventide-bench worker` (remoteShard).
type shardHandle interface {
	Connect(ctx context.Context) (JoinReport, error)
	// Measure returns when every expected event has arrived, or when ctx
	// ends (the coordinator's "stop"), or at the Expect's deadline.
	Measure(ctx context.Context, e Expect) (ShardResult, error)
	Close() error
}

type localShard struct{ s *Shard }

func (l localShard) Connect(ctx context.Context) (JoinReport, error) { return l.s.Connect(ctx), nil }
func (l localShard) Measure(ctx context.Context, e Expect) (ShardResult, error) {
	return l.s.Measure(ctx, e), nil
}
func (l localShard) Close() error { l.s.Close(); return nil }

// workerMsg is one JSON line between the coordinator and a worker. The
// coordinator sends Config, then Expect, then Stop (or closes stdin); the
// worker answers Join after connecting and Result after measuring.
type workerMsg struct {
	Config *ShardConfig `json:"config,omitempty"`
	Join   *JoinReport  `json:"join,omitempty"`
	Expect *Expect      `json:"expect,omitempty"`
	Stop   bool         `json:"stop,omitempty"`
	Result *ShardResult `json:"result,omitempty"`
	Error  string       `json:"error,omitempty"`
}

type remoteShard struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	cfg  ShardConfig
	mu   sync.Mutex // serialises writes to in
	once sync.Once
}

// startRemote starts exe as `exe worker` for cfg.
func startRemote(exe string, cfg ShardConfig) (*remoteShard, error) {
	cmd := exec.Command(exe, "worker")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("worker stdin: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("worker stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	return newRemoteShard(cmd, in, out, cfg), nil
}

// newRemoteShard drives a worker that reads in and writes out; cmd, when
// not nil, is waited for on Close.
func newRemoteShard(cmd *exec.Cmd, in io.WriteCloser, out io.Reader, cfg ShardConfig) *remoteShard {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	return &remoteShard{cmd: cmd, in: in, out: sc, cfg: cfg}
}

func (r *remoteShard) send(m workerMsg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err = r.in.Write(append(b, '\n'))
	return err
}

func (r *remoteShard) recv() (workerMsg, error) {
	var m workerMsg
	if !r.out.Scan() {
		if err := r.out.Err(); err != nil {
			return m, fmt.Errorf("worker: %w", err)
		}
		return m, errors.New("worker exited")
	}
	if err := json.Unmarshal(r.out.Bytes(), &m); err != nil {
		return m, fmt.Errorf("worker said %q: %w", r.out.Text(), err)
	}
	if m.Error != "" {
		return m, errors.New("worker: " + m.Error)
	}
	return m, nil
}

func (r *remoteShard) Connect(ctx context.Context) (JoinReport, error) {
	cfg := r.cfg
	if err := r.send(workerMsg{Config: &cfg}); err != nil {
		return JoinReport{}, err
	}
	m, err := r.recv()
	if err != nil {
		return JoinReport{}, err
	}
	if m.Join == nil {
		return JoinReport{}, errors.New("worker sent no join report")
	}
	return *m.Join, nil
}

func (r *remoteShard) Measure(ctx context.Context, e Expect) (ShardResult, error) {
	if err := r.send(workerMsg{Expect: &e}); err != nil {
		return ShardResult{}, err
	}
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
			_ = r.send(workerMsg{Stop: true})
		case <-stopped:
		}
	}()
	m, err := r.recv()
	if err != nil {
		return ShardResult{}, err
	}
	if m.Result == nil {
		return ShardResult{}, errors.New("worker sent no result")
	}
	return *m.Result, nil
}

func (r *remoteShard) Close() error {
	var err error
	r.once.Do(func() {
		r.in.Close()
		if r.cmd != nil {
			err = r.cmd.Wait()
		}
	})
	return err
}

// RunWorker is `eventide-bench worker`: one Shard driven by JSON lines on
// in, answering on out. It ends when in closes.
func RunWorker(ctx context.Context, in io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	enc := json.NewEncoder(out)
	lines := make(chan workerMsg)
	go func() {
		defer close(lines)
		for sc.Scan() {
			var m workerMsg
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				_ = enc.Encode(workerMsg{Error: "bad message: " + err.Error()})
				return
			}
			lines <- m
		}
	}()

	var shard *Shard
	defer func() {
		if shard != nil {
			shard.Close()
		}
	}()
	var measuring context.CancelFunc
	results := make(chan ShardResult, 1)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r := <-results:
			if measuring != nil {
				measuring()
			}
			measuring = nil
			if err := enc.Encode(workerMsg{Result: &r}); err != nil {
				return err
			}
		case m, ok := <-lines:
			if !ok {
				if measuring != nil {
					measuring()
				}
				return nil
			}
			switch {
			case m.Config != nil && shard == nil:
				shard = NewShard(*m.Config)
				rep := shard.Connect(ctx)
				if err := enc.Encode(workerMsg{Join: &rep}); err != nil {
					return err
				}
			case m.Expect != nil && shard != nil && measuring == nil:
				mctx, cancel := context.WithCancel(ctx)
				measuring = cancel
				e := *m.Expect
				go func() { results <- shard.Measure(mctx, e) }()
			case m.Stop:
				if measuring != nil {
					measuring()
				}
			default:
				_ = enc.Encode(workerMsg{Error: "unexpected message"})
			}
		}
	}
}
