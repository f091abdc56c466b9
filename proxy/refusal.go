package proxy

import (
	"time"
)

// slowRefusal holds a 401 back by RefusalDelay when x's address has had
// more than refusalsPerAddress of them this second. Only refusals wait:
// a request with a good credential never does, from any address. The
// wait is real time, whatever clock signatures are checked against.
func (p *Proxy) slowRefusal(x *exchange) {
	if p.cfg.RefusalDelay <= 0 {
		return
	}
	const interval = int64(time.Second) / refusalsPerAddress
	if p.refusals.For(x.client).Take(time.Now().UnixNano(), interval, int64(time.Second)) {
		return
	}
	time.Sleep(p.cfg.RefusalDelay)
}
