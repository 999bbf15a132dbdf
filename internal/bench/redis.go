package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// ReadRedisCPU returns the CPU seconds (used_cpu_sys + used_cpu_user, its
// main thread and every other) that the Redis server at addr (host:port,
// in 127.0.0.0/8) has used so far, from `INFO cpu`. It speaks RESP itself:
// one command does not need a client library.
func ReadRedisCPU(ctx context.Context, addr string) (float64, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("--redis-addr: %w", err)
	}
	if ip := net.ParseIP(host).To4(); ip == nil || ip[0] != 127 {
		return 0, fmt.Errorf("--redis-addr %q is not in 127.0.0.0/8", addr)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, fmt.Errorf("redis INFO: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, "*2\r\n$4\r\nINFO\r\n$3\r\ncpu\r\n"); err != nil {
		return 0, fmt.Errorf("redis INFO: %w", err)
	}
	text, err := readBulk(bufio.NewReader(c))
	if err != nil {
		return 0, fmt.Errorf("redis INFO: %w", err)
	}
	return parseRedisCPU(text)
}

// readBulk reads one RESP bulk string reply ($<n>\r\n<bytes>\r\n).
func readBulk(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "-") {
		return "", fmt.Errorf("server error %q", line[1:])
	}
	if !strings.HasPrefix(line, "$") {
		return "", fmt.Errorf("unexpected reply %q", line)
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 || n > 1<<20 {
		return "", fmt.Errorf("unexpected bulk length %q", line)
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// parseRedisCPU sums used_cpu_sys and used_cpu_user of an INFO cpu text.
func parseRedisCPU(info string) (float64, error) {
	var sum float64
	found := 0
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || (k != "used_cpu_sys" && k != "used_cpu_user") {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, fmt.Errorf("INFO cpu %s: %w", k, err)
		}
		sum += f
		found++
	}
	if found != 2 {
		return 0, fmt.Errorf("INFO cpu without used_cpu_sys and used_cpu_user")
	}
	return sum, nil
}
