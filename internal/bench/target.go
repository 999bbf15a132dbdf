package bench

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// CheckLoopback accepts only http:// URLs whose host is a literal address
// in 127.0.0.0/8 (or "localhost"): the bench never loads another machine.
func CheckLoopback(base string) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("--url: %w", err)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("--url must be http://127.x.y.z:port, not %q", base)
	}
	host := u.Hostname()
	if host == "localhost" {
		return u, nil
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() == nil || ip.To4()[0] != 127 {
		return nil, fmt.Errorf("--url host %q is not in 127.0.0.0/8: the bench only targets this machine", host)
	}
	return u, nil
}

// socketURL is the Socket.IO WebSocket endpoint of base.
func socketURL(base string) (string, error) {
	u, err := CheckLoopback(base)
	if err != nil {
		return "", err
	}
	return "ws://" + u.Host + strings.TrimSuffix(u.Path, "/") + "/socket.io/?EIO=4&transport=websocket", nil
}

// Sources returns n source addresses starting at base (e.g. 127.0.1.1),
// all inside 127.0.0.0/8.
func Sources(base string, n int) ([]string, error) {
	ip := net.ParseIP(base).To4()
	if ip == nil || ip[0] != 127 {
		return nil, fmt.Errorf("--source-base %q is not an IPv4 address in 127.0.0.0/8", base)
	}
	if n <= 0 {
		return nil, nil
	}
	v := uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		a := v + uint32(i)
		if a>>24 != 127 || a&0xff == 0 || a&0xff == 255 {
			continue
		}
		out = append(out, net.IPv4(byte(a>>24), byte(a>>16), byte(a>>8), byte(a)).String())
	}
	return out, nil
}
