//go:build !linux

package shm

const isLinux = false
