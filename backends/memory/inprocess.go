package memory

// InProcess implements authkit.InProcessStore: the Store answers every call
// in process, without I/O, so the issuer and verifier call it directly,
// without the goroutine and timer that bound a remote store's calls
// (authkit.WithStoreTimeout).
func (*Store) InProcess() bool { return true }
