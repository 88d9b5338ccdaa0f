package wire

// Byte slices and strings cross processes without being registered:
// they are what a user sends first (a payload of their own format, a
// line of text), and their names here are fixed.
func init() {
	for _, err := range []error{
		RegisterName[[]byte](Default, "[]byte"),
		RegisterName[string](Default, "string"),
	} {
		if err != nil {
			panic(err)
		}
	}
}
