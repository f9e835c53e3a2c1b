// Package storetest holds the store-backed test scenarios the backends
// share: the issuer and verifier benchmarks (BenchFlows), run over the
// memory store and a backend in one run, and the fault scenario (Faults),
// which cuts and stalls a testservers.Proxy between a store and its server
// in the middle of a run; BenchPropagation and MirrorPropagates, how a
// revocation reaches a verifier's revocation mirror over a second handle.
//
// It is for the backends' tests only; no non-test code imports it.
package storetest
