// Package lint holds the project's style rules as ordinary tests: they walk
// the module's source and fail when a rule is broken.
package lint
