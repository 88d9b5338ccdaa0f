// Package testproc runs a test binary's own helper processes, the way
// os/exec's tests do: TestMain dispatches on an environment variable to a
// named helper instead of running the tests, and tests start helpers as
// real child processes, read their output line by line, signal and kill
// them.
//
// Children are started through the wrapper named by SHMACTOR_TEST_EXEC
// (for example qemu-aarch64-static), so multi-process tests also run for
// other architectures under emulation.
package testproc
