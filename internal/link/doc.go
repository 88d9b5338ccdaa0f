// Package link connects the layers built on package actor (topic/) to a
// System's transport without widening actor's public API: actor attaches
// a Host to each System it makes, and the layers above find it by the
// System's protoactor-go ActorSystem.
package link
