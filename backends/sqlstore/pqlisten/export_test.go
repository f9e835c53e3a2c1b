package pqlisten

import "time"

// SetPings makes l ping after every of silence, and give the ping wait.
func SetPings(l *Listener, every, wait time.Duration) { l.pingEvery, l.pingWait = every, wait }
