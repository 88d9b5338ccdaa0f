// Package logx throttles log lines: a flood of bad frames or failed sends
// must not become a flood of log lines.
package logx
