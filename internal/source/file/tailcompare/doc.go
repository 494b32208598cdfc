// Package tailcompare measures github.com/nxadm/tail against the file
// input's own LineReader: lines per second and allocations per line
// (benchmarks), and lines lost or duplicated while files are rotated
// (TestRotation). It is a module of its own so that nxadm/tail never becomes
// a dependency of the shipper; the results are in docs/file-input.md.
//
//	cd internal/source/file/tailcompare
//	go test -run TestRotation -v .
//	go test -run '^$' -bench . -benchmem .
package tailcompare
