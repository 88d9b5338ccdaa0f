// Command chat is people in terminals talking through shmactor: run it in
// several terminals on one machine.
//
//	go run ./examples/chat -name alice -room lobby
//
// Lines you type go to your current room. Rooms are topics
// ("chat.room.<room>"); each user is an actor named after the user.
//
//	/join <room>        join a room (and make it the current one)
//	/leave <room>       leave a room
//	/msg <user> <text>  a direct message to the user's actor
//	/who                ask every user who is online, and where
//	/quit               leave (so does end of input)
//
// "bob joined" and "bob left" come from death watch: a terminal killed
// with kill -9 shows as left in the others within a second.
package main
