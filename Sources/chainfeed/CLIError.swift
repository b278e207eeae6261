/// A command-line failure: one line for stderr that says what is wrong and what to do.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
