package conformance

// EchoServer is echoServer (proxy_test.go) for the external tests.
var EchoServer = echoServer
