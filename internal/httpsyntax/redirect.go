package httpsyntax

import (
	"net/netip"
	"strings"
)

// LoopbackWithoutPort returns u without its port when u is an http URI
// whose host is a loopback IP literal (127.0.0.0/8 written as four decimal
// numbers, or [::1] and its other spellings, never a name such as
// localhost) and its port, if any, a decimal number from 1 to 65535
// (IsPort). The HTTP layer compares redirect URIs with it (RFC 8252 §7.3:
// any port of a registered loopback URI), and the CLI registers only
// loopback URIs it accepts.
func LoopbackWithoutPort(u string) (string, bool) {
	const scheme = "http://"
	if !strings.HasPrefix(u, scheme) {
		return "", false
	}
	rest := u[len(scheme):]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	hostport, tail := rest[:end], rest[end:]
	host, port := hostport, ""
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.HasSuffix(hostport, "]") {
		host, port = hostport[:i], hostport[i+1:]
		if !IsPort(port) {
			return "", false
		}
	}
	ip := host
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		ip = host[1 : len(host)-1]
	} else if strings.Contains(host, ":") {
		return "", false // an IPv6 literal must be bracketed
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil || !addr.IsLoopback() || addr.Zone() != "" || addr.Is4In6() {
		return "", false
	}
	return scheme + host + tail, true
}

// IsPort reports whether port is a TCP port as a URI writes it: a decimal
// number from 1 to 65535 without a sign or a leading zero.
func IsPort(port string) bool {
	if port == "" || len(port) > 5 || port[0] == '0' {
		return false
	}
	n := 0
	for i := 0; i < len(port); i++ {
		c := port[i]
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}
