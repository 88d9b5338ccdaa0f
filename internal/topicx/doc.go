// Package topicx lets the NATS bridge publish to part of a namespace's
// subscribers, which package topic does not offer its users: package
// topic sets these functions as it loads.
package topicx
