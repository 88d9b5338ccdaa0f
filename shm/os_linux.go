package shm

const isLinux = true
